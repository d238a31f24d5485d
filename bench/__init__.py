"""The benchmarks: `make bench` runs every module of `bench.registry.MODULES` against the
running native stack and writes docs/benchmarks.md and docs/benchmarks.json.

Each module's `main()` measures one thing and returns its figures (`bench.figures.Figure`);
`python -m bench MODULE...` runs some of them and prints their figures without writing
the docs. Speed targets are checked here, by figures with a target, never by timed tests.
"""
