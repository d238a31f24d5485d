"""The build_report task body, called directly, against the real database."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from reports import service, tasks
from reports.config import settings
from reports.db import SessionLocal
from reports.models import Period, Report, ReportEvent, ReportStatus, Sale, User
from reports.reaper import RUNNING_AT_MOST, fail_stale_reports
from reports.runs import Run
from reports.sales import HEADER, DayTotals, date_slices, summarize_slice
from reports.tasks import MAX_DELIVERIES, MAX_RETRIES, build_report, ping
from reports.writers import write_report

MakeReport = Callable[..., Report]
TODAY = dt.datetime.now(dt.UTC).date()


def reload(session: Session, report: Report) -> Report:
    session.expire_all()
    return session.get_one(Report, report.id)


def sales_in(session: Session, report: Report) -> int:
    in_range = Sale.sold_on.between(report.date_from, report.date_to)
    return session.scalar(select(func.count()).select_from(Sale).where(in_range)) or 0


def days_of(report: Report) -> int:
    return (report.date_to - report.date_from).days + 1


def test_the_worker_imports_the_domain_not_the_api() -> None:
    # What `celery -A reports.celery_app worker` loads: the tasks and what they use.
    # The domain types (format, period, status) come from the models; the API's
    # schemas, and FastAPI with them, are the web app's alone.
    code = (
        "import sys, reports.celery_app, reports.tasks; "
        "print(sorted(m for m in sys.modules if m == 'fastapi' or m.startswith('reports.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "reports.tasks" in loaded
    assert "reports.schemas" not in loaded
    assert "'fastapi'" not in loaded


def test_ping_names_its_worker() -> None:
    assert ping()["app"] == "reports"


def test_builds_the_csv_and_records_the_outcome(
    session: Session, bob: User, make_report: MakeReport
) -> None:
    report = make_report(bob)
    assert build_report(report.id) == "done"
    report = reload(session, report)
    expected_sales = sales_in(session, report)
    assert report.status == ReportStatus.DONE
    assert (report.percent, report.source_rows) == (100, expected_sales)
    assert report.finished_at is not None
    assert report.file_name is not None
    with (settings.files_dir / report.file_name).open(newline="") as file:
        header, *rows = list(csv.reader(file))
    assert tuple(header) == HEADER
    assert len(rows) == report.row_count
    assert sum(int(row[2]) for row in rows) == expected_sales


@pytest.mark.parametrize("period", list(Period))
def test_the_file_is_what_summing_the_rows_one_by_one_writes(
    session: Session,
    bob: User,
    make_report: MakeReport,
    sum_rows_one_by_one: Callable[..., list[tuple[Any, ...]]],
    period: Period,
) -> None:
    # A year, so slices end inside weeks and months; the file is the one the
    # build wrote when it read every row and summed them in Python, byte for byte.
    report = make_report(bob, period=period, date_from=TODAY - dt.timedelta(days=365))
    assert build_report(report.id) == "done"
    report = reload(session, report)
    rows = sum_rows_one_by_one(session, report.date_from, report.date_to, period)
    expected = io.StringIO(newline="")
    csv.writer(expected).writerows([HEADER, *rows])
    assert report.file_name is not None
    assert (settings.files_dir / report.file_name).read_bytes() == expected.getvalue().encode()


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


def summed_slices(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dt.date, dt.date]]:
    """The (first, last) of each slice the build sums, in order, as it sums them."""
    summed: list[tuple[dt.date, dt.date]] = []
    summarize = summarize_slice

    def spy(session: Session, first: dt.date, last: dt.date) -> list[DayTotals]:
        summed.append((first, last))
        return summarize(session, first, last)

    monkeypatch.setattr(tasks, "summarize_slice", spy)
    return summed


def test_progress_is_mirrored_into_the_row(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []
    messages: list[str] = []
    store = Run.store_progress

    def spy(run: Run, session_: Session, progress: Any) -> None:
        store(run, session_, progress)
        seen.append((progress["current"], progress["total"]))
        messages.append(progress["message"])

    monkeypatch.setattr(Run, "store_progress", spy)
    slices = summed_slices(monkeypatch)
    report = make_report(bob, date_from=TODAY - dt.timedelta(days=365))
    build_report(report.id)
    report = reload(session, report)
    # In days: one write to start, then one after each slice, the last at the end.
    days = days_of(report)
    assert len(slices) >= 3
    # Paced: slices as quick as these grow, so fewer than a month each.
    assert len(slices) < len(date_slices(report.date_from, report.date_to))
    assert seen == [(0, days)] + [((last - report.date_from).days + 1, days) for _, last in slices]
    assert (report.progress_current, report.progress_total) == (days, days)
    assert messages[-1] == f"Added up the sales to {report.date_to}: {report.source_rows:,} so far"


def test_progress_writes_do_not_wait_for_the_disk_and_the_finish_does(
    session: Session,
    bob: User,
    make_report: MakeReport,
    durability_of_commits: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slices = summed_slices(monkeypatch)
    report = make_report(bob)
    assert build_report(report.id) == "done"
    progress_writes = len(slices) + 1
    # And the timeline's events (a build called directly records only its progress).
    events = (
        session.scalar(
            select(func.count()).select_from(ReportEvent).where(ReportEvent.report_id == report.id)
        )
        or 0
    )
    # The start waits for the disk; each progress write and event does not; the finish does.
    assert durability_of_commits[0] == "on"
    assert durability_of_commits.count("off") == progress_writes + events
    assert durability_of_commits[-1] == "on"


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
    store = Run.store_progress

    def cancel_then_store(run: Run, session_: Session, progress: Any) -> None:
        with session_.bind.connect() as other:  # type: ignore[union-attr]
            other.execute(update(Report).values(status=ReportStatus.CANCELLED))
            other.commit()
        store(run, session_, progress)

    monkeypatch.setattr(Run, "store_progress", cancel_then_store)
    assert build_report(report.id) == "cancelled"
    report = reload(session, report)
    assert report.status == ReportStatus.CANCELLED
    assert report.file_name is None


def test_a_cancel_stops_the_build_before_the_next_slice(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = make_report(bob)
    summed: list[dt.date] = []
    summarize = summarize_slice

    def sum_then_cancel(session_: Session, date_from: dt.date, date_to: dt.date) -> Any:
        summed.append(date_from)
        with SessionLocal() as other:
            assert service.cancel_report(other, other.get_one(Report, report.id))
        return summarize(session_, date_from, date_to)

    monkeypatch.setattr(tasks, "summarize_slice", sum_then_cancel)
    assert build_report(report.id) == "cancelled"
    assert summed == [report.date_from]  # the first slice, and no other
    assert files_of(report) == []


def test_soft_time_limit_fails_the_report_with_advice(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    summed: list[dt.date] = []
    summarize = summarize_slice

    def too_slow_at_the_second_slice(
        session_: Session, date_from: dt.date, date_to: dt.date
    ) -> Any:
        summed.append(date_from)
        if len(summed) == 2:
            raise SoftTimeLimitExceeded
        return summarize(session_, date_from, date_to)

    monkeypatch.setattr(tasks, "summarize_slice", too_slow_at_the_second_slice)
    report = make_report(bob)
    assert build_report(report.id) == "failed"
    report = reload(session, report)
    assert (report.status, report.message) == ("failed", "Took too long: try a shorter range.")
    assert (report.file_name, files_of(report)) == (None, [])


def database_down(*_: Any, **__: Any) -> list[Any]:
    raise OperationalError("SELECT sold_on, region, …", {}, Exception("connection refused"))


def test_database_errors_are_retried(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "summarize_slice", database_down)
    retried: list[dict[str, Any]] = []

    def retry(**kwargs: Any) -> RuntimeError:
        retried.append(kwargs)
        return RuntimeError("retry")

    monkeypatch.setattr(build_report, "retry", retry)
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
    monkeypatch.setattr(tasks, "summarize_slice", database_down)
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


def run_as_message(task_id: str, report_id: int, *, retries: int = 0) -> str:
    """Run the task body as the worker would for the message `task_id`.

    Only the row is looked at: the PROGRESS state in the result backend is not stored.
    """
    build_report.push_request(id=task_id, retries=retries)
    try:
        with patch.object(build_report, "update_state"):
            return str(build_report(report_id))
    finally:
        build_report.pop_request()


def files_of(report: Report) -> list[str]:
    return sorted(path.name for path in settings.files_dir.glob(f"*report-{report.id}[.-]*"))


def test_the_start_of_the_work_is_recorded(
    session: Session, bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = make_report(bob, task_id="the-message")
    seen: list[tuple[str, bool, int]] = []

    def spy(*_: Any, **__: Any) -> list[Any]:
        row = reload(session, report)
        seen.append((row.status, row.started_at is not None, row.attempts))
        return []

    monkeypatch.setattr(tasks, "summarize_slice", spy)
    assert run_as_message("the-message", report.id) == "done"
    assert set(seen) == {("running", True, 1)}


def fail_as_the_reaper_does(session: Session, report: Report) -> None:
    session.execute(update(Report).values(started_at=dt.datetime.now(dt.UTC) - 2 * RUNNING_AT_MOST))
    session.commit()
    assert fail_stale_reports(session, Report.id == report.id) == [report.id]


def retry_as_the_owner_does(session: Session, report: Report) -> None:
    fail_as_the_reaper_does(session, report)
    with patch.object(service, "build_report"):
        assert service.retry_report(session, report)


def cancel_as_the_owner_does(session: Session, report: Report) -> None:
    assert service.cancel_report(session, report)


@pytest.mark.parametrize(
    ("meanwhile", "left_as"),
    [
        (fail_as_the_reaper_does, ReportStatus.FAILED),
        (cancel_as_the_owner_does, ReportStatus.CANCELLED),
        (retry_as_the_owner_does, ReportStatus.PENDING),
    ],
)
@pytest.mark.parametrize("moment", ["reading", "writing"])
def test_a_late_run_never_overwrites_what_happened_meanwhile(
    session: Session,
    bob: User,
    make_report: MakeReport,
    monkeypatch: pytest.MonkeyPatch,
    meanwhile: Callable[[Session, Report], None],
    left_as: ReportStatus,
    moment: str,
) -> None:
    report = make_report(bob, task_id="the-late-message")
    seams: dict[str, tuple[str, Callable[..., Any]]] = {
        "reading": ("summarize_slice", summarize_slice),
        "writing": ("write_report", write_report),
    }
    patched, original = seams[moment]

    def meanwhile_then(*args: Any, **kwargs: Any) -> Any:
        with SessionLocal() as other:
            meanwhile(other, other.get_one(Report, report.id))
        return original(*args, **kwargs)

    monkeypatch.setattr(tasks, patched, meanwhile_then)
    run_as_message("the-late-message", report.id)
    after = reload(session, report)
    assert (after.status, after.file_name, after.row_count) == (left_as, None, None)
    assert files_of(report) == []


def test_a_run_of_an_older_message_does_nothing(
    session: Session, bob: User, make_report: MakeReport
) -> None:
    report = make_report(bob, task_id="the-newer-message")
    assert run_as_message("an-older-message", report.id) == "pending"
    after = reload(session, report)
    assert (after.status, after.started_at, after.attempts) == ("pending", None, 0)


def test_a_message_that_keeps_losing_its_worker_is_stopped(
    session: Session, bob: User, make_report: MakeReport
) -> None:
    # Delivered MAX_DELIVERIES times already, and each run died with its worker.
    report = make_report(bob, task_id="poison", status="running", attempts=MAX_DELIVERIES)
    assert run_as_message("poison", report.id) == "failed"
    after = reload(session, report)
    assert after.message == f"Stopped: {MAX_DELIVERIES} runs never finished (each lost its worker)."
    assert (after.attempts, after.file_name, after.source_rows) == (MAX_DELIVERIES + 1, None, None)


def test_retries_of_our_own_are_not_deliveries(
    session: Session, bob: User, make_report: MakeReport
) -> None:
    report = make_report(bob, task_id="retried", status="running", attempts=MAX_DELIVERIES)
    assert run_as_message("retried", report.id, retries=2) == "done"
    assert reload(session, report).attempts == MAX_DELIVERIES + 1


def test_a_run_removes_what_a_killed_run_of_its_report_left_behind(
    session: Session, bob: User, make_report: MakeReport
) -> None:
    report = make_report(bob, task_id="again")
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    left_behind = [f".report-{report.id}-killed.csv.k1ll3d.part", f"report-{report.id}-killed.csv"]
    not_ours = [f"report-{report.id}0.csv", f".report-{report.id}0-x.csv.abc.part"]
    for name in left_behind + not_ours:
        (settings.files_dir / name).write_text("a killed run's")
    assert run_as_message("again", report.id) == "done"
    assert files_of(report) == [f"report-{report.id}-again.csv"]
    assert all((settings.files_dir / name).exists() for name in not_ours)
