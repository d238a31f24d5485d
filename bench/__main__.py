"""`python -m bench [MODULE...]`: run the benchmarks against the running native stack.

With no MODULE, every module of bench.registry runs and docs/benchmarks.md and
docs/benchmarks.json are written. With some (`integration`, or `bench.integration`),
only those run and their figures are printed; the docs, which describe one whole
run on one machine, are left alone.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence

from bench import report
from bench.figures import Figure, Verdict
from bench.harness import BenchError, running_stack
from bench.registry import MODULES


def resolve(names: Sequence[str]) -> list[str]:
    """The registry's entries named by `names` (`integration` or `bench.integration`)."""
    by_module = {entry.partition(":")[0]: entry for entry in MODULES}
    wanted = [name if name.startswith("bench.") else f"bench.{name}" for name in names]
    if unknown := [name for name in wanted if name not in by_module]:
        raise SystemExit(f"no benchmark {', '.join(unknown)}; the modules: {', '.join(by_module)}")
    return [by_module[name] for name in wanted]


def run_module(entry: str) -> report.ModuleResult:
    """Run one registry entry, `bench.module` (its main()) or `bench.module:function`."""
    name, _, function = entry.partition(":")
    module = importlib.import_module(name)
    figures_of: Callable[[], list[Figure]] = getattr(module, function or "main")
    title, _, rest = (module.__doc__ or name).strip().partition("\n")
    description = rest.strip().split("\n\n")[0].replace("\n", " ")
    print(f"bench: {name}: {title}", flush=True)
    started = time.monotonic()
    figures = figures_of()
    seconds = time.monotonic() - started
    result = report.ModuleResult(name, title.rstrip("."), description, seconds, tuple(figures))
    for figure in result.figures:
        print(f"  {report.figure_row(figure)}", flush=True)
    print(f"bench: {name} took {seconds:.0f} s", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    names = ", ".join(entry.partition(":")[0] for entry in MODULES)
    parser.add_argument("modules", nargs="*", help=f"some of: {names}")
    args = parser.parse_args(argv)
    selected = resolve(args.modules) if args.modules else list(MODULES)
    try:
        running_stack()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    header = report.machine()
    results, failed = [], []
    for name in selected:
        try:
            results.append(run_module(name))
        except BenchError as error:
            print(f"bench: {name} failed: {error}", file=sys.stderr, flush=True)
            failed.append(name)
    if failed:
        print(f"bench: {', '.join(failed)} failed; the docs are left as they were", file=sys.stderr)
        return 1
    if args.modules:
        return 0
    # Other work on the machine moves the figures; the start alone would not show it.
    header["load average at the end"] = report.load_average()
    report.write(header, results)
    misses = [f.name for r in results for f in r.figures if f.verdict is Verdict.MISSED]
    print(f"bench: wrote {report.MARKDOWN.relative_to(report.ROOT)} and {report.JSON.name}")
    print(
        f"bench: {len(misses)} figures miss their target"
        + (f": {'; '.join(misses)}" if misses else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
