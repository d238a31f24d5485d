"""Writing a summary as CSV, XLSX or a PNG chart, atomically."""

from __future__ import annotations

import csv
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from reports.models import ReportFormat
from reports.sales import HEADER, Summary


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path next to `final`, renamed onto it only if the block succeeds.

    A download never sees a half-written file, and a task killed mid-write
    leaves at most a stray `.part` file, never a corrupt report.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        temporary.replace(final)  # atomic on POSIX: same directory, same file system
    finally:
        temporary.unlink(missing_ok=True)


def write_csv(path: Path, summary: Summary) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(summary.rows())


def write_xlsx(path: Path, summary: Summary) -> None:
    # Imported here, as matplotlib below: every web and worker process imports this
    # module as it starts, and only an XLSX report needs openpyxl.
    from openpyxl import Workbook

    # write_only streams rows to disk instead of building the sheet in memory.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Sales")
    sheet.append(HEADER)
    for row in summary.rows():
        sheet.append(row)
    workbook.save(path)


def write_png(path: Path, summary: Summary) -> None:
    # Imported here, not at the top: matplotlib (with numpy) takes about a second to
    # import, which every web and worker process would pay as it starts. Only a PNG
    # report needs it; a worker process imports it once, at its first one.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    revenue: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for period, region, _orders, _quantity, amount in summary.rows():
        revenue[region][period] = amount
    periods = sorted({period for by_period in revenue.values() for period in by_period})
    # Figure, not pyplot: no global state and no GUI backend in a worker process.
    figure = Figure(figsize=(10, 5), layout="constrained")
    axes = figure.subplots()
    for region, by_period in sorted(revenue.items()):
        axes.plot(periods, [float(by_period.get(p, 0)) for p in periods], label=region)
    axes.set_title(f"Revenue by region and {summary.period}")
    axes.set_ylabel("amount")
    axes.xaxis.set_major_locator(MaxNLocator(nbins=24))  # at most ~24 labels, even by day
    axes.tick_params(axis="x", labelrotation=60, labelsize=7)
    axes.legend()
    figure.savefig(path, format="png")


WRITERS = {ReportFormat.CSV: write_csv, ReportFormat.XLSX: write_xlsx, ReportFormat.PNG: write_png}


def write_report(path: Path, summary: Summary, report_format: ReportFormat) -> None:
    """Write `summary` to `path` in `report_format`, replacing any earlier file atomically."""
    with atomic_path(path) as temporary:
        WRITERS[report_format](temporary, summary)
