"""The benchmark modules `make bench` runs, in this order.

Each entry is a module of this package with a `main() -> list[Figure]`, or
`bench.module:function` for another function of the module that returns the
figures (a module whose `main()` is its own command line, printing JSON, adds a
`figures()` beside it). Adding one to the run, and its table to
docs/benchmarks.md, is one line here.
"""

from __future__ import annotations

MODULES: tuple[str, ...] = (
    "bench.integration",
    "bench.enqueue",
    "bench.confirmation",
    "bench.exports:figures",
    "bench.mailcatcher:figures",
    "bench.reports:figures",
    # Last: it stops the stack and starts it again.
    "bench.startup",
)
