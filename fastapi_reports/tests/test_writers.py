"""Report files: the three formats, written atomically."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from reports.models import Period, ReportFormat
from reports.sales import HEADER, DayTotals, Summary
from reports.writers import atomic_path, write_report


def sale(day: dt.date, region: str, quantity: int, amount: str) -> DayTotals:
    """One sale, as the day's totals a slice returns for it."""
    cents = int(Decimal(amount) * 100)
    return DayTotals(day=day.isoformat(), region=region, orders=1, quantity=quantity, cents=cents)


@pytest.fixture
def summary() -> Summary:
    summary = Summary(Period.MONTH)
    summary.add(
        [
            sale(dt.date(2025, 1, 5), "North", 2, "10.00"),
            sale(dt.date(2025, 1, 9), "North", 1, "5.50"),
            sale(dt.date(2025, 2, 1), "East", 3, "7.25"),
        ]
    )
    return summary


def test_csv(tmp_path: Path, summary: Summary) -> None:
    path = tmp_path / "r.csv"
    write_report(path, summary, ReportFormat.CSV)
    with path.open(newline="") as file:
        assert list(csv.reader(file)) == [
            list(HEADER),
            ["2025-01", "North", "2", "3", "15.50"],
            ["2025-02", "East", "1", "3", "7.25"],
        ]


def test_xlsx(tmp_path: Path, summary: Summary) -> None:
    path = tmp_path / "r.xlsx"
    write_report(path, summary, ReportFormat.XLSX)
    sheet = load_workbook(path, read_only=True)["Sales"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == HEADER
    assert rows[1] == ("2025-01", "North", 2, 3, 15.5)
    assert len(rows) == 3


def test_png(tmp_path: Path, summary: Summary) -> None:
    path = tmp_path / "r.png"
    write_report(path, summary, ReportFormat.PNG)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    final = tmp_path / "report.csv"
    final.write_text("the finished report")

    def interrupted_write() -> None:
        with atomic_path(final) as temporary:
            temporary.write_text("half a rep")
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        interrupted_write()
    assert final.read_text() == "the finished report"
    assert list(tmp_path.iterdir()) == [final]
