"""A split build's steps called directly, against the real database: the build that cuts
the report and sends its chord, the parts, the merge and its errback.

The chord itself is not sent here (tests/test_split_integration.py sends it to a
real worker): `sent` records what the build would have sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

import pytest
from celery import Task
from celery.exceptions import ChordError, TimeLimitExceeded
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from reports import service, tasks
from reports.config import settings
from reports.db import SessionLocal
from reports.models import Report, ReportPart, ReportStatus, User
from reports.parts import MAX_PARTS, PartTotals, split_into_parts
from reports.reaper import RUNNING_AT_MOST, fail_stale_reports
from reports.runs import Run
from reports.sales import summarize_slice
from reports.schemas import MAX_SPAN_DAYS
from reports.tasks import (
    MAX_DELIVERIES,
    NOT_BUILT,
    PART_MISSING,
    STOPPED,
    TOOK_TOO_LONG,
    build_report,
    build_report_part,
    fail_split_report,
    merge_report_parts,
)
from reports.writers import write_report

MakeReport = Callable[..., Report]
TODAY = dt.datetime.now(dt.UTC).date()
FIRST_DAY = TODAY - dt.timedelta(days=MAX_SPAN_DAYS)
PARTS = split_into_parts(FIRST_DAY, TODAY)
DAYS = (TODAY - FIRST_DAY).days + 1
RUN = "the-build"


def as_message(task: Task[Any, Any], task_id: str, *args: Any, retries: int = 0) -> Any:
    """Run `task`'s body as a worker would for the message `task_id` (no result stored)."""
    task.push_request(id=task_id, retries=retries)
    try:
        with patch.object(task, "update_state"):
            return task(*args)
    finally:
        task.pop_request()


class Sent:
    """Stands in for `celery.chord`: keeps each (header, callback) the build sends."""

    def __init__(self) -> None:
        self.chords: list[tuple[list[Any], Any]] = []

    def __call__(self, header: list[Any]) -> Callable[[Any], None]:
        return lambda callback: self.chords.append((header, callback))


@pytest.fixture(autouse=True)
def _no_files_of_earlier_tests() -> None:
    # Ids recur from test to test (the tables are emptied), and so would file names.
    for path in settings.files_dir.glob("*report-*"):
        path.unlink()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    chords = Sent()
    monkeypatch.setattr(tasks, "chord", chords)
    return chords


@pytest.fixture
def split_report(bob: User, make_report: MakeReport, sent: Sent) -> Report:
    """A report of the longest range, cut into parts by its build (the message RUN)."""
    report = make_report(bob, task_id=RUN, period="week", date_from=FIRST_DAY, date_to=TODAY)
    assert as_message(build_report, RUN, report.id) == "running"
    return report


def reload(session: Session, report: Report) -> Report:
    session.expire_all()
    return session.get_one(Report, report.id)


def run_part(report: Report, index: int, run: str = RUN, message: str = "") -> PartTotals | None:
    first, last = PARTS[index]
    args = (report.id, run, first.isoformat(), last.isoformat())
    result: PartTotals | None = as_message(build_report_part, message or f"part-{index}", *args)
    return result


def parts_of(session: Session, report: Report, run: str = RUN) -> list[tuple[int, int]]:
    """(days counted, runs) of each part of `run`, in order."""
    rows = session.execute(
        select(ReportPart.days_done, ReportPart.runs)
        .where(ReportPart.report_id == report.id, ReportPart.task_id == run)
        .order_by(ReportPart.first_day)
    )
    return [(days, runs) for days, runs in rows]


def whole(index: int) -> int:
    first, last = PARTS[index]
    return (last - first).days + 1


def merge(report: Report, parts: list[PartTotals | None], run: str = RUN) -> str:
    return str(as_message(merge_report_parts, "the-merge", parts, report.id, run))


def files_of(report: Report) -> list[str]:
    return sorted(path.name for path in settings.files_dir.glob(f"*report-{report.id}[.-]*"))


@pytest.fixture
def single_task_file(
    session: Session, bob: User, make_report: MakeReport
) -> Callable[[Report], bytes]:
    """The file the single task writes for a report like the one given (a direct call)."""

    def build(like: Report) -> bytes:
        twin = make_report(bob, period=like.period, date_from=like.date_from, date_to=like.date_to)
        assert build_report(twin.id) == "done"
        twin = reload(session, twin)
        assert twin.file_name is not None
        return (settings.files_dir / twin.file_name).read_bytes()

    return build


def test_a_long_report_is_sent_as_a_chord_of_its_parts(
    session: Session, split_report: Report, sent: Sent
) -> None:
    [(header, callback)] = sent.chords
    assert [part.task for part in header] == ["reports.build_report_part"] * MAX_PARTS
    assert [tuple(part.args) for part in header] == [
        (split_report.id, RUN, first.isoformat(), last.isoformat()) for first, last in PARTS
    ]
    assert (callback.task, tuple(callback.args)) == (
        "reports.merge_report_parts",
        (split_report.id, RUN),
    )
    [errback] = callback.options["link_error"]
    assert (errback.task, tuple(errback.args)) == (
        "reports.fail_split_report",
        (split_report.id, RUN),
    )
    # The parts are on record before any of them can start.
    assert parts_of(session, split_report) == [(0, 0)] * MAX_PARTS
    after = reload(session, split_report)
    assert (after.status, after.progress_current, after.progress_total) == ("running", 0, DAYS)
    assert after.message == f"Adding up the sales in {MAX_PARTS} parts"


def test_a_short_report_and_a_direct_call_are_built_in_one_task(
    session: Session, bob: User, make_report: MakeReport, sent: Sent
) -> None:
    short = make_report(bob, task_id="short")  # 90 days
    assert as_message(build_report, "short", short.id) == "done"
    longest = make_report(bob, date_from=FIRST_DAY, date_to=TODAY)
    assert build_report(longest.id) == "done"  # no message to send parts with
    assert sent.chords == []
    assert session.scalars(select(ReportPart)).all() == []


def test_a_build_redelivered_after_it_sent_its_parts_sends_nothing_more(
    session: Session, split_report: Report, sent: Sent
) -> None:
    run_part(split_report, 0)
    before = reload(session, split_report)
    # Its worker died after the chord went out, or the message came back after
    # the visibility timeout: the same message runs again.
    assert as_message(build_report, RUN, split_report.id) == "running"
    assert len(sent.chords) == 1
    assert parts_of(session, split_report) == [(whole(0), 1)] + [(0, 0)] * (MAX_PARTS - 1)
    after = reload(session, split_report)
    assert (after.attempts, after.progress_current) == (2, whole(0))
    assert after.message == before.message  # the part's, as it left it


class Killed(BaseException):
    """The worker process dies here: nothing after it runs, not even an except clause."""


def die(*_: Any) -> None:
    raise Killed


@pytest.mark.parametrize(
    ("dies_in", "chords"),
    [
        pytest.param((tasks, "chord"), 1, id="before-the-publish"),
        pytest.param((Run, "mark_parts_sent"), 2, id="after-the-publish"),
    ],
)
def test_a_build_that_died_before_it_recorded_sending_its_parts_sends_them_when_redelivered(
    session: Session,
    bob: User,
    make_report: MakeReport,
    sent: Sent,
    monkeypatch: pytest.MonkeyPatch,
    dies_in: tuple[object, str],
    chords: int,
) -> None:
    report = make_report(bob, task_id=RUN, period="week", date_from=FIRST_DAY, date_to=TODAY)
    with monkeypatch.context() as dying:
        dying.setattr(*dies_in, die)
        with pytest.raises(Killed):
            as_message(build_report, RUN, report.id)
    assert parts_of(session, report) == [(0, 0)] * MAX_PARTS  # on record, the report running
    assert reload(session, report).status == ReportStatus.RUNNING

    assert as_message(build_report, RUN, report.id) == "running"
    # Sent once in all, or twice (each part then runs twice, and counts once): never not at all.
    assert len(sent.chords) == chords
    assert [tuple(part.args) for part in sent.chords[-1][0]] == [
        (report.id, RUN, first.isoformat(), last.isoformat()) for first, last in PARTS
    ]
    assert as_message(build_report, RUN, report.id) == "running"  # and then no more
    assert len(sent.chords) == chords


def test_each_part_counts_its_days_in_the_report_once_however_often_it_runs(
    session: Session, split_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_part(split_report, 2) is not None
    assert reload(session, split_report).progress_current == whole(2)
    run_part(split_report, 0)
    assert reload(session, split_report).progress_current == whole(2) + whole(0)
    # Run again (redelivered after its worker died): it sums again, and counts nothing
    # twice, nor do its first slices, summed anew, take the bar back.
    seen: list[int] = []
    summarize = summarize_slice

    def watch(session_: Session, date_from: dt.date, date_to: dt.date) -> Any:
        with SessionLocal() as other:
            seen.append(other.get_one(Report, split_report.id).progress_current)
        return summarize(session_, date_from, date_to)

    monkeypatch.setattr(tasks, "summarize_slice", watch)
    run_part(split_report, 0)
    assert seen
    assert seen == [whole(2) + whole(0)] * len(seen)  # before each of its slices
    assert reload(session, split_report).progress_current == whole(2) + whole(0)
    assert parts_of(session, split_report) == [(whole(0), 2), (0, 0), (whole(2), 1), (0, 0)]


def test_a_parts_progress_writes_do_not_wait_for_the_disk(
    split_report: Report, durability_of_commits: list[str]
) -> None:
    summed: list[dt.date] = []
    summarize = summarize_slice

    def count(session_: Session, date_from: dt.date, date_to: dt.date) -> Any:
        summed.append(date_from)
        return summarize(session_, date_from, date_to)

    with patch.object(tasks, "summarize_slice", count):
        assert run_part(split_report, 0) is not None
    # Its start waits for the disk; each slice's progress write does not.
    assert summed
    assert durability_of_commits == ["on"] + ["off"] * len(summed)


def test_a_part_writes_progress_after_each_slice_and_stops_at_a_cancel(
    session: Session, split_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    summed: list[dt.date] = []
    summarize = summarize_slice

    def sum_then_cancel(session_: Session, date_from: dt.date, date_to: dt.date) -> Any:
        summed.append(date_from)
        if len(summed) == 2:
            with SessionLocal() as other:
                assert service.cancel_report(other, other.get_one(Report, split_report.id))
        return summarize(session_, date_from, date_to)

    monkeypatch.setattr(tasks, "summarize_slice", sum_then_cancel)
    assert run_part(split_report, 1) is None
    assert summed == [PARTS[1][0], PARTS[1][0] + dt.timedelta(days=31)]  # and no third slice
    assert parts_of(session, split_report)[1] == (31, 1)  # the first slice counted, not the second
    assert reload(session, split_report).status == ReportStatus.CANCELLED


def test_a_failing_part_fails_the_report_with_its_range(
    session: Session, split_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> list[Any]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(tasks, "summarize_slice", broken)
    with pytest.raises(RuntimeError):  # so that the chord sees the part fail
        run_part(split_report, 3)
    first, last = PARTS[3]
    after = reload(session, split_report)
    assert (after.status, after.message) == (
        "failed",
        f"The sales from {first} to {last} could not be added up: try again.",
    )


def test_a_part_that_keeps_losing_its_worker_is_stopped(
    session: Session, split_report: Report
) -> None:
    session.execute(
        update(ReportPart).where(ReportPart.first_day == PARTS[1][0]).values(runs=MAX_DELIVERIES)
    )
    session.commit()
    assert run_part(split_report, 1) is None
    first, last = PARTS[1]
    after = reload(session, split_report)
    assert (after.status, after.message) == (
        "failed",
        f"Stopped: {MAX_DELIVERIES} runs of the sales from {first} to {last} never finished.",
    )


def test_late_parts_and_merges_of_an_older_run_change_nothing(
    session: Session, split_report: Report
) -> None:
    results = [run_part(split_report, index) for index in range(MAX_PARTS)]
    # The reaper fails the report, and its owner retries it: a new run, a new message.
    session.execute(update(Report).values(started_at=dt.datetime.now(dt.UTC) - 2 * RUNNING_AT_MOST))
    session.commit()
    assert fail_stale_reports(session, Report.id == split_report.id) == [split_report.id]
    with patch.object(service, "build_report"):
        assert service.retry_report(session, reload(session, split_report))
    before = reload(session, split_report)
    counted = parts_of(session, split_report)

    assert run_part(split_report, 1) is None
    assert merge(split_report, results) == "pending"
    after = reload(session, split_report)
    assert (after.status, after.progress_current, after.started_at) == ("pending", 0, None)
    assert (after.task_id, after.file_name) == (before.task_id, None)
    assert parts_of(session, split_report) == counted
    assert files_of(split_report) == []


def time_passes(delta: dt.timedelta) -> None:
    """Move every report's clock back by `delta`, as if that much time had gone by since."""
    with SessionLocal.begin() as session:
        for report in session.scalars(select(Report)):
            report.queued_at -= delta
            if report.started_at is not None:
                report.started_at -= delta


def test_parts_waiting_in_the_queue_have_a_redelivery_delay_from_the_last_slice_summed(
    session: Session, split_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    summarize = summarize_slice

    def slow(session_: Session, date_from: dt.date, date_to: dt.date) -> Any:
        time_passes(dt.timedelta(seconds=20))  # nine slices at most: under the soft limit
        return summarize(session_, date_from, date_to)

    monkeypatch.setattr(tasks, "summarize_slice", slow)
    assert run_part(split_report, 0) is not None
    # Every process is busy elsewhere: the other parts wait in the queue, for
    # all but a minute of the redelivery delay, and the page is read.
    time_passes(RUNNING_AT_MOST - dt.timedelta(minutes=1))
    assert fail_stale_reports(session, Report.id == split_report.id) == []
    assert reload(session, split_report).status == ReportStatus.RUNNING
    # Nothing heard of it for longer than the delay: its parts were lost.
    time_passes(dt.timedelta(minutes=2))
    assert fail_stale_reports(session, Report.id == split_report.id) == [split_report.id]


def test_the_merge_writes_the_single_task_s_file(
    session: Session, split_report: Report, single_task_file: Callable[[Report], bytes]
) -> None:
    results = [run_part(split_report, index) for index in range(MAX_PARTS)]
    assert merge(split_report, results[::-1]) == "done"
    after = reload(session, split_report)
    assert (after.status, after.percent, after.merge_attempts) == ("done", 100, 1)
    assert after.file_name == f"report-{split_report.id}-{RUN}.csv"
    assert (settings.files_dir / after.file_name).read_bytes() == single_task_file(after)


def test_the_merge_counts_a_part_twice_returned_once(
    session: Session, split_report: Report, single_task_file: Callable[[Report], bytes]
) -> None:
    results = [run_part(split_report, index) for index in range(MAX_PARTS)]
    assert merge(split_report, [*results, results[1]]) == "done"
    after = reload(session, split_report)
    assert after.file_name is not None
    assert (settings.files_dir / after.file_name).read_bytes() == single_task_file(after)


def test_the_merge_writes_nothing_when_a_part_is_missing(
    session: Session, split_report: Report
) -> None:
    results = [run_part(split_report, index) for index in range(MAX_PARTS)]
    # As if the chord had counted a part that ran twice in the place of another.
    assert merge(split_report, [results[0], results[0], results[2], results[3]]) == "failed"
    after = reload(session, split_report)
    assert (after.status, after.message, after.file_name) == ("failed", PART_MISSING, None)
    assert files_of(split_report) == []


def test_the_merge_of_a_cancelled_report_writes_nothing(
    session: Session, split_report: Report
) -> None:
    results = [run_part(split_report, index) for index in range(MAX_PARTS)]
    assert service.cancel_report(session, reload(session, split_report))
    assert merge(split_report, results) == "cancelled"
    assert (reload(session, split_report).file_name, files_of(split_report)) == (None, [])


def test_a_second_copy_of_the_merge_never_deletes_the_file_the_first_finished(
    session: Session, split_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = [run_part(split_report, index) for index in range(MAX_PARTS)]
    write = write_report

    def the_other_copy_finishes_first(*args: Any) -> None:
        monkeypatch.setattr(tasks, "write_report", write)
        assert merge(split_report, results) == "done"
        write(*args)

    monkeypatch.setattr(tasks, "write_report", the_other_copy_finishes_first)
    assert merge(split_report, results) == "done"
    after = reload(session, split_report)
    assert after.file_name is not None
    assert files_of(split_report) == [after.file_name]


def test_once_done_nothing_a_killed_merge_left_half_written_remains(
    session: Session, split_report: Report
) -> None:
    results = [run_part(split_report, index) for index in range(MAX_PARTS)]
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    killed = settings.files_dir / f".report-{split_report.id}-{RUN}.csv.k1ll3d.part"
    killed.write_text("half a merg")
    assert merge(split_report, results) == "done"
    assert files_of(split_report) == [f"report-{split_report.id}-{RUN}.csv"]


def test_a_merge_that_keeps_losing_its_worker_is_stopped(
    session: Session, split_report: Report
) -> None:
    results = [run_part(split_report, index) for index in range(MAX_PARTS)]
    session.execute(update(Report).values(merge_attempts=MAX_DELIVERIES))
    session.commit()
    assert merge(split_report, results) == "failed"
    after = reload(session, split_report)
    assert (after.message, after.merge_attempts, after.file_name) == (
        STOPPED,
        MAX_DELIVERIES + 1,
        None,
    )


def test_the_errback_fails_the_report_a_part_could_not_fail_itself(
    session: Session, bob: User, make_report: MakeReport, sent: Sent
) -> None:
    killed, broken, late = (
        make_report(bob, task_id=run, status="running") for run in ("killed", "broken", "late")
    )
    timed_out = ChordError("Dependency part-2 raised TimeLimitExceeded(3)")
    timed_out.__cause__ = TimeLimitExceeded(3)
    fail_split_report(None, timed_out, None, killed.id, "killed")
    fail_split_report(
        None, ChordError("Dependency part-1 raised KeyError()"), None, broken.id, "broken"
    )
    fail_split_report(None, timed_out, None, late.id, "an-older-run")
    assert [(r.status, r.message) for r in (reload(session, r) for r in (killed, broken))] == [
        ("failed", TOOK_TOO_LONG),
        ("failed", NOT_BUILT),
    ]
    assert reload(session, late).status == ReportStatus.RUNNING


def test_a_parts_queries_run_in_one_database_process_and_the_single_tasks_in_several(
    session: Session, split_report: Report, bob: User, make_report: MakeReport
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("parallel query is PostgreSQL's")
    workers: list[str] = []
    summarize = summarize_slice

    def note(session_: Session, date_from: dt.date, date_to: dt.date) -> Any:
        query = text("SELECT current_setting('max_parallel_workers_per_gather')")
        workers.append(str(session_.scalar(query)))
        return summarize(session_, date_from, date_to)

    with patch.object(tasks, "summarize_slice", note):
        assert run_part(split_report, 0) is not None
        parts = len(workers)
        assert build_report(make_report(bob).id) == "done"
    configured = str(session.scalar(text("SHOW max_parallel_workers_per_gather")))
    assert configured != "0"
    # The part's every slice in one process; the single task's with the server's workers.
    assert workers[:parts] == ["0"] * parts
    assert workers[parts:] == [configured] * (len(workers) - parts)
    assert len(workers) > parts
