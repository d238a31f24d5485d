"""The build_report task body, called directly, against the real database."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from reports import tasks
from reports.config import settings
from reports.models import Report, ReportStatus, User
from reports.sales import HEADER, count_sales
from reports.tasks import MAX_RETRIES, build_report, ping

MakeReport = Callable[..., Report]


def reload(session: Session, report: Report) -> Report:
    session.expire_all()
    return session.get_one(Report, report.id)


def test_ping_names_its_worker() -> None:
    assert ping()["app"] == "reports"


def test_builds_the_csv_and_records_the_outcome(
    session: Session, bob: User, make_report: MakeReport
) -> None:
    report = make_report(bob)
    assert build_report(report.id) == "done"
    report = reload(session, report)
    expected_sales = count_sales(session, report.date_from, report.date_to)
    assert report.status == ReportStatus.DONE
    assert (report.percent, report.source_rows) == (100, expected_sales)
    assert report.finished_at is not None
    assert report.file_name is not None
    with (settings.files_dir / report.file_name).open(newline="") as file:
        header, *rows = list(csv.reader(file))
    assert tuple(header) == HEADER
    assert len(rows) == report.row_count
    assert sum(int(row[2]) for row in rows) == expected_sales


@pytest.mark.parametrize(
    ("report_type", "fmt"), [("sales_summary", "xlsx"), ("sales_chart", "png")]
)
def test_builds_the_other_formats(
    session: Session, bob: User, make_report: MakeReport, report_type: str, fmt: str
) -> None:
    report = make_report(bob, report_type=report_type, format=fmt, period="week")
    build_report(report.id)
    report = reload(session, report)
    assert report.status == ReportStatus.DONE
    assert report.file_name == f"report-{report.id}.{fmt}"
    assert (settings.files_dir / report.file_name).stat().st_size > 0


def test_progress_is_mirrored_into_the_row(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []
    store = tasks._store_progress

    def spy(session_: Session, report_id: int, progress: Any) -> None:
        store(session_, report_id, progress)
        seen.append((progress["current"], progress["total"]))

    monkeypatch.setattr(tasks, "_store_progress", spy)
    report = make_report(bob)
    build_report(report.id)
    total = reload(session, report).source_rows
    assert seen[0] == (0, total)
    assert seen[-1] == (total, total)


def test_a_finished_report_is_not_built_again(
    session: Session, bob: User, make_report: MakeReport
) -> None:
    report = make_report(bob, status=ReportStatus.CANCELLED)
    assert build_report(report.id) == "cancelled"
    assert reload(session, report).file_name is None
    assert build_report(10**9) == "missing"


def test_cancel_while_running_stops_the_build(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = make_report(bob)
    store = tasks._store_progress

    def cancel_then_store(session_: Session, report_id: int, progress: Any) -> None:
        with session_.bind.connect() as other:  # type: ignore[union-attr]
            other.execute(update(Report).values(status=ReportStatus.CANCELLED))
            other.commit()
        store(session_, report_id, progress)

    monkeypatch.setattr(tasks, "_store_progress", cancel_then_store)
    assert build_report(report.id) == "cancelled"
    report = reload(session, report)
    assert report.status == ReportStatus.CANCELLED
    assert report.file_name is None


def test_soft_time_limit_fails_the_report_with_advice(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_slow(*_: Any, **__: Any) -> Iterator[Any]:
        raise SoftTimeLimitExceeded
        yield

    monkeypatch.setattr(tasks, "iter_sale_chunks", too_slow)
    report = make_report(bob)
    assert build_report(report.id) == "failed"
    report = reload(session, report)
    assert (report.status, report.message) == ("failed", "Took too long: try a shorter range.")


def database_down(*_: Any, **__: Any) -> int:
    raise OperationalError("SELECT count(*)", {}, Exception("connection refused"))


def test_database_errors_are_retried(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "count_sales", database_down)
    retried: list[dict[str, Any]] = []
    monkeypatch.setattr(
        build_report, "retry", lambda **kwargs: retried.append(kwargs) or RuntimeError("retry")
    )
    report = make_report(bob)
    with pytest.raises(RuntimeError, match="retry"):
        build_report(report.id)
    assert retried[0]["countdown"] == 1
    assert isinstance(retried[0]["exc"], OperationalError)
    # Still running: the retry will pick it up.
    assert reload(session, report).status == ReportStatus.RUNNING


def test_the_last_retry_fails_the_report(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "count_sales", database_down)
    report = make_report(bob)
    build_report.push_request(retries=MAX_RETRIES)
    try:
        with pytest.raises(OperationalError):
            build_report(report.id)
    finally:
        build_report.pop_request()
    report = reload(session, report)
    assert report.status == ReportStatus.FAILED
    assert report.message == "The database was unavailable: try again."
