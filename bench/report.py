"""docs/benchmarks.md and docs/benchmarks.json: the figures of one run of every module, and
the machine they were measured on.

The Markdown page is written whole on every run, except what follows NOTES_MARKER:
notes written by hand (why a figure misses, what was tried) are kept as they are.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figures import Figure

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN = ROOT / "docs" / "benchmarks.md"
JSON = ROOT / "docs" / "benchmarks.json"
NOTES_MARKER = "<!-- Everything below this line is written by hand; `make bench` keeps it. -->"


@dataclass(frozen=True)
class ModuleResult:
    """The figures one benchmark module returned, and how long it took."""

    module: str  # bench.integration
    title: str  # the first line of its docstring
    description: str  # the rest of the first paragraph
    seconds: float
    figures: tuple[Figure, ...]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: what else the machine was doing."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> dict[str, str]:
    """The machine and the code the figures were measured with, as the page's header."""
    return {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} ({len(os.sched_getaffinity(0))} usable)",
        "memory": f"{_memory_gib():.1f} GiB",
        "OS": f"{_os_name()}, Linux {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git commit": _git_commit(),
        "load average at the start (1, 5, 15 min)": load_average(),
    }


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def _os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return platform.system()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _git_commit() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    # The pages this run rewrites do not count as a change to the code measured.
    outputs = {str(path.relative_to(ROOT)) for path in (MARKDOWN, JSON)}
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    dirty = any(path not in outputs for path in changed)
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    return f"{commit} ({branch}{', with uncommitted changes' if dirty else ''})"


# --- Markdown -------------------------------------------------------------------


def format_value(value: float, unit: str) -> str:
    """`value` for the table: ratios to three decimals (targets like 1.05), else three
    significant digits."""
    if unit == "x":
        return f"{value:.3f}x"
    number = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{number} {unit}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def figure_row(figure: Figure) -> str:
    target = f"<= {format_value(figure.target, figure.unit)}" if figure.target is not None else ""
    cells = [
        figure.name,
        format_value(figure.value, figure.unit),
        target,
        figure.verdict.value,
        figure.comparison,
    ]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def markdown(header: dict[str, str], results: Sequence[ModuleResult], notes: str = "") -> str:
    """The whole page: the machine, then one section and table per module, then `notes`."""
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (the modules of [`bench/`](../bench/)) against a running",
        "native stack, on the machine below; [`benchmarks.json`](benchmarks.json) holds the raw",
        "numbers. A figure passes when it is at most its target; a figure without a target",
        "is there to explain another. Comparisons are measured side by side in one run, in",
        "interleaved rounds. Run `make bench` again to refresh this page.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {_cell(key)} | {_cell(value)} |" for key, value in header.items()),
    ]
    for result in results:
        path = result.module.replace(".", "/") + ".py"
        lines += [
            "",
            f"## {result.title}",
            "",
            f"[`{path}`](../{path}), {result.seconds:.0f} s. {result.description}".rstrip(),
            "",
            "| figure | value | target | result | measured as |",
            "|---|---:|---:|:---:|---|",
            *(figure_row(figure) for figure in result.figures),
        ]
    lines += ["", NOTES_MARKER, ""]
    return "\n".join(lines) + notes.lstrip("\n")


def kept_notes(page: Path) -> str:
    """What follows NOTES_MARKER on the page as it is now ("" when there is none)."""
    text = page.read_text() if page.exists() else ""
    _, marker, notes = text.partition(NOTES_MARKER)
    return notes if marker else ""


def as_json(header: dict[str, str], results: Sequence[ModuleResult]) -> dict[str, Any]:
    modules = []
    for result in results:
        figures = [
            {**asdict(f), "samples": [round(x, 4) for x in f.samples], "verdict": f.verdict.value}
            for f in result.figures
        ]
        modules.append({**asdict(result), "figures": figures})
    return {"machine": header, "modules": modules}


def write(
    header: dict[str, str],
    results: Sequence[ModuleResult],
    *,
    markdown_path: Path = MARKDOWN,
    json_path: Path = JSON,
) -> None:
    """Write both pages, keeping the hand-written notes of the Markdown one."""
    notes = kept_notes(markdown_path)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(markdown(header, results, notes))
    json_path.write_text(json.dumps(as_json(header, results), indent=1) + "\n")
