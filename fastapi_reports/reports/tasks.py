"""The reports worker's tasks. They take ids and plain values, and open their own session.

Nothing from a web request (its session, its user, a FastAPI dependency) ever
enters a task: the request commits the Report row and sends only its id. The
parts of a split build get the report's id, the id of the run they work for and
their range as ISO dates, and return plain JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import httpx2
from celery import Task, chord, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from reports.config import settings
from reports.db import SessionLocal, query_in_one_process
from reports.files import remove_report_files, report_file_name
from reports.models import Period, Report, ReportFormat, ReportStatus
from reports.notify import post_notices
from reports.parts import DateRange, PartsMismatchError, PartTotals, merge_parts, split_into_parts
from reports.runs import PartRun, Run, RunSupersededError
from reports.sales import DayTotals, Summary, paced_slices, summarize_slice
from reports.timeline import TIMELINE
from reports.writers import write_report
from shared.celery_app import IDEMPOTENT, MAX_RETRY_DELAY
from shared.progress import Progress, ProgressReporter

logger = logging.getLogger(__name__)

#: Transient database errors (connection lost, database locked) are retried this often.
MAX_RETRIES = 3
#: A message delivered this often without its run ever finishing is poison (it
#: kills its worker: out of memory, a crash): the next delivery fails the report
#: instead of dying too. acks_late with reject_on_worker_lost would otherwise
#: hand it to a worker forever. Each message counts its own: the build, each
#: part, the merge.
MAX_DELIVERIES = 3

TOOK_TOO_LONG = "Took too long: try a shorter range."
DATABASE_DOWN = "The database was unavailable: try again."
NOT_BUILT = "The report could not be built."
PART_MISSING = "A part of the report went missing: try again."
STOPPED = f"Stopped: {MAX_DELIVERIES} runs never finished (each lost its worker)."

T = TypeVar("T")


@shared_task(bind=True, name="reports.ping", ignore_result=False)
def ping(self: Task[Any, Any]) -> dict[str, str]:
    """Proves a reports worker answers on the reports queue (see GET /health/worker)."""
    return {"app": "reports", "worker": str(self.request.hostname)}


@shared_task(bind=True, name="reports.build_report", max_retries=MAX_RETRIES, **IDEMPOTENT)
def build_report(self: Task[Any, Any], report_id: int) -> str:
    """Build report `report_id`, keeping its row up to date; returns its status.

    Idempotent, hence acks_late: a retried or redelivered run rebuilds the same
    file, and a report already finished is left alone. Every change to the row
    is conditional on the row still being this message's (reports/runs.py). A
    long report is cut into parts sent as a chord: the build returns "running",
    and the chord's callback (`merge_report_parts`) finishes the report.
    """
    run = Run(report_id, self.request.id)
    return _step(
        self,
        run,
        lambda: _build(self, run),
        gone=lambda: _status_now(report_id),
        failed=ReportStatus.FAILED.value,
        error_message=NOT_BUILT,
    )


def _build(task: Task[Any, Any], run: Run) -> str:
    # The task's own session, opened here and closed before the file is written.
    with SessionLocal() as session:
        attempts = run.start(session)
        if attempts is None:  # finished, cancelled, failed, queued again, or missing
            return _status_now(run.report_id)
        # Our own retries start the message again too; only the other starts are deliveries.
        if attempts - task.request.retries > MAX_DELIVERIES:
            run.finish(ReportStatus.FAILED, message=STOPPED)
            return ReportStatus.FAILED
        report = session.get_one(Report, run.report_id)
        parts = split_into_parts(report.date_from, report.date_to)
        # A chord needs a broker to carry its parts and a result backend to gather
        # their totals: a task called directly (tests, a shell) builds in one go.
        if len(parts) > 1 and run.task_id is not None:
            return _send_parts(session, run.report_id, run.task_id, parts)
        remove_report_files(run.report_id)  # what a run killed mid-write left behind

        # Progress counts days, not sales: the days are known for free, where counting
        # the sales first would scan the range twice. The bar moves evenly through the
        # calendar, ahead of the work or behind it only as unevenly as the sales fall.
        def save_progress(progress: Progress) -> None:
            run.store_progress(session, progress)
            TIMELINE.progress(task, run.report_id, progress)  # each quarter of the way

        reporter = ProgressReporter(
            task, (report.date_to - report.date_from).days + 1, on_update=save_progress
        )
        summary = _sum_sales(session, report, reporter)
    return _write_and_finish(run, report, summary)


def _sum_sales(session: Session, report: Report, reporter: ProgressReporter) -> Summary:
    """The report's summary, summed one slice of days at a time, with progress after each.

    The slices grow while they are quick (`paced_slices`): a small report is a
    few queries, a large one moves its bar every quarter of a second or so.

    `reporter` writes to the row (`Run.store_progress`), and every slice ends in
    such a write: conditional on the report still being this run's, so a cancel,
    the reaper or a retry raises RunSupersededError there, before the next slice
    is read; and committed, so no read stays open from one slice to the next.
    """
    summary = Summary(Period(report.period))
    reporter.update(0, "Adding up the sales")
    for first, last in paced_slices(report.date_from, report.date_to):
        summary.add(summarize_slice(session, first, last))
        days_done = (last - report.date_from).days + 1
        message = f"Added up the sales to {last.isoformat()}: {summary.source_rows:,} so far"
        reporter.update(days_done, message, force=True)  # each slice, not each 0.5 s
    return summary


def _send_parts(session: Session, report_id: int, run_id: str, parts: list[DateRange]) -> str:
    """Record the parts on the report, send them as a group with a merging chord callback.

    Record, publish, then record the publish: the parts are on record before the
    first of them can start and look for its row, and a build_report redelivered
    after it sent the chord (its worker died, the message came back after the
    visibility timeout) finds them sent and sends nothing. A build that died
    before the last step is redelivered and sends them again: no report is left
    with parts recorded and none sent; at worst each part runs twice, which
    counts nothing twice (reports/runs.py, `Run.split`, `Run.mark_parts_sent`).
    """
    run = Run(report_id, run_id)
    if not run.split(session, parts):
        logger.info("report %s: its parts were sent already, by an earlier delivery", report_id)
        return ReportStatus.RUNNING
    header = [
        build_report_part.s(report_id, run_id, first.isoformat(), last.isoformat())
        for first, last in parts
    ]
    # The errback is on the callback: Celery calls it when a part fails (once every
    # part has returned) or when the merge itself fails (reports: fail_split_report).
    merge = merge_report_parts.s(report_id, run_id).on_error(fail_split_report.s(report_id, run_id))
    chord(header)(merge)
    run.mark_parts_sent(session)
    logger.info("report %s: sent in %d parts", report_id, len(parts))
    return ReportStatus.RUNNING


@shared_task(
    bind=True,
    name="reports.build_report_part",
    # A chord gathers its header's results in the result backend: this task keeps
    # its result (task_ignore_result is the default), the merge does not.
    ignore_result=False,
    max_retries=MAX_RETRIES,
    **IDEMPOTENT,
)
def build_report_part(
    self: Task[Any, Any], report_id: int, run_id: str, first_day: str, last_day: str
) -> PartTotals | None:
    """Sum the days `first_day`..`last_day` (ISO dates) of report `report_id` for build `run_id`.

    A part of the build's chord: returns the part's totals, plain JSON
    identified by the part's range, or None when the report is no longer the
    run's. Idempotent, hence acks_late and reject_on_worker_lost: a part whose
    worker died is redelivered and sums its own days again, without counting
    them twice; the parts that had finished are not redone.
    """
    part = PartRun(
        Run(report_id, run_id), dt.date.fromisoformat(first_day), dt.date.fromisoformat(last_day)
    )
    return _step(
        self,
        part.run,
        lambda: _build_part(self, part),
        gone=lambda: None,
        failed=None,
        error_message=f"The sales from {first_day} to {last_day} could not be added up: try again.",
    )


def _build_part(task: Task[Any, Any], part: PartRun) -> PartTotals | None:
    with SessionLocal() as session:
        runs = part.start(session)
        if runs is None:
            raise RunSupersededError
        if runs - task.request.retries > MAX_DELIVERIES:
            stopped = f"Stopped: {MAX_DELIVERIES} runs of the sales from {part.first_day} to "
            part.run.finish(
                ReportStatus.FAILED, message=f"{stopped}{part.last_day} never finished."
            )
            return None
        # Every slice ends in a conditional write, as in the single task: a cancel,
        # the reaper or a retry stops the part there, before its next slice. The
        # slices grow while they are quick, as the single task's do: fewer queries
        # and progress writes, and a split report at 10M sales about a tenth faster
        # on PostgreSQL than with a query every 31 days. Each slice's query runs in
        # one database process: the parts are the parallelism.
        reporter = ProgressReporter(
            task, part.days, on_update=lambda progress: part.store_progress(session, progress)
        )
        days: list[DayTotals] = []
        for first, last in paced_slices(part.first_day, part.last_day):
            query_in_one_process(session)
            days += summarize_slice(session, first, last)
            message = f"Added up the sales from {first.isoformat()} to {last.isoformat()}"
            reporter.update((last - part.first_day).days + 1, message, force=True)
    return PartTotals(first=part.first_day.isoformat(), last=part.last_day.isoformat(), days=days)


@shared_task(bind=True, name="reports.merge_report_parts", max_retries=MAX_RETRIES, **IDEMPOTENT)
def merge_report_parts(
    self: Task[Any, Any], parts: list[PartTotals | None], report_id: int, run_id: str
) -> str:
    """The chord callback of a split build: merge the parts, write the file, finish the report.

    Celery calls it with the parts' results once each has returned. Its Redis
    backend counts a part that returns twice once (by task id), and the merge
    checks anyway that the parts cover each day once, or writes nothing
    (reports/parts.py, `merge_parts`). Conditional like every run's change, so
    a cancelled report gets no file; idempotent, so a merge whose worker died
    runs again from its message, which holds the parts' totals.
    """
    run = Run(report_id, run_id)
    return _step(
        self,
        run,
        lambda: _merge(self, run, parts),
        gone=lambda: _status_now(report_id),
        failed=ReportStatus.FAILED.value,
        error_message=NOT_BUILT,
    )


def _merge(task: Task[Any, Any], run: Run, parts: list[PartTotals | None]) -> str:
    with SessionLocal() as session:
        attempts = run.start_merge(session)
        if attempts is None:  # cancelled, failed or queued again while the parts ran
            return _status_now(run.report_id)
        if attempts - task.request.retries > MAX_DELIVERIES:
            run.finish(ReportStatus.FAILED, message=STOPPED)
            return ReportStatus.FAILED
        report = session.get_one(Report, run.report_id)
    try:
        summary = merge_parts(Period(report.period), report.date_from, report.date_to, parts)
    except PartsMismatchError:
        logger.exception("report %s: the parts do not cover its range once", run.report_id)
        run.finish(ReportStatus.FAILED, message=PART_MISSING)
        return ReportStatus.FAILED
    return _write_and_finish(run, report, summary)


@shared_task(name="reports.fail_split_report")
def fail_split_report(
    request: Any, exc: BaseException, traceback: str | None, report_id: int, run_id: str
) -> None:
    """The merge's errback: fail the report of a split build whose part or merge failed.

    Celery calls it directly (not as a message), in the worker process that
    records the failure, with the failed task's request, the error and the
    traceback, then this signature's own arguments. A part that raised has
    already failed the report with its own message, so this changes nothing
    then. It is for the failures no task could report: a part killed by the
    hard time limit (a ChordError caused by TimeLimitExceeded), or a merge whose
    own finish failed. Conditional like every change: a late one does nothing.
    """
    took_too_long = any(
        isinstance(error, (TimeLimitExceeded, SoftTimeLimitExceeded))
        for error in (exc, exc.__cause__)
    )
    logger.warning("report %s: a part or the merge failed (%r)", report_id, exc)
    Run(report_id, run_id).finish(
        ReportStatus.FAILED, message=TOOK_TOO_LONG if took_too_long else NOT_BUILT
    )


def _write_and_finish(run: Run, report: Report, summary: Summary) -> str:
    """Write `summary` as the report's file and mark the report done; returns "done".

    The last step of every build, in one go or merged from parts. Raises
    RunSupersededError if the report moved on meanwhile.
    """
    days = (report.date_to - report.date_from).days + 1
    path = settings.files_dir / report_file_name(run.report_id, run.task_id, report.format)
    write_report(path, summary, ReportFormat(report.format))
    done = run.finish(
        ReportStatus.DONE,
        message=f"{len(summary.groups):,} rows from {summary.source_rows:,} sales",
        file_name=path.name,
        row_count=len(summary.groups),
        source_rows=summary.source_rows,
        progress_current=days,
        progress_total=days,
    )
    if not done:
        # Cancelled or failed while the file was being written: the name is this
        # message's only, so the file goes. Unless another copy of this very message
        # (a redelivery racing its original, a merge sent twice) finished first with
        # it: the same sales, so the same file, and the report's now.
        if not run.finished_with(path.name):
            path.unlink(missing_ok=True)
        raise RunSupersededError
    remove_report_files(run.report_id, keep=path.name)  # what killed copies left half written
    if settings.reports_webhook_urls:
        notify_report_ready.delay(run.report_id)
    return ReportStatus.DONE


def _step(
    task: Task[Any, Any],
    run: Run,
    work: Callable[[], T],
    *,
    gone: Callable[[], T],
    failed: T,
    error_message: str,
) -> T:
    """Run `work`, a step of `run` (the build, a part, the merge), failing the report on error.

    What it returns when the report moved on meanwhile (`gone`) or failed
    (`failed`) is the step's; how each error fails the report is shared. An
    error is re-raised after the report is failed, so the worker logs it and
    Flower shows it (and a part's failure reaches its chord).
    """
    try:
        return work()
    except RunSupersededError:
        logger.info("report %s moved on while this run was building it", run.report_id)
        return gone()
    except SoftTimeLimitExceeded:
        run.finish(ReportStatus.FAILED, message=TOOK_TOO_LONG)
        return failed
    except OperationalError as exc:
        if task.request.retries < MAX_RETRIES:
            logger.warning("database error building report %s, retrying: %s", run.report_id, exc)
            raise task.retry(exc=exc, countdown=2**task.request.retries) from exc
        run.finish(ReportStatus.FAILED, message=DATABASE_DOWN)
        raise
    except Exception:
        run.finish(ReportStatus.FAILED, message=error_message)
        raise


def _status_now(report_id: int) -> str:
    with SessionLocal() as session:
        report = session.get(Report, report_id)
        return report.status if report is not None else "missing"


@shared_task(
    bind=True,
    name="reports.notify_report_ready",
    autoretry_for=(httpx2.HTTPError,),
    retry_backoff=True,
    retry_backoff_max=MAX_RETRY_DELAY,
    max_retries=5,
)
def notify_report_ready(self: Task[Any, Any], report_id: int) -> list[int]:
    """POST a notice of the finished report to every REPORTS_WEBHOOK_URLS endpoint.

    Celery runs task functions synchronously: an `async def` task would only
    create a coroutine and never run it. So the task stays a plain function and
    runs the async code to completion itself, with `asyncio.run` (a fresh event
    loop per call, closed afterwards). Not idempotent: a retry may notify an
    endpoint twice, so receivers key on `report_id`.
    """
    with SessionLocal() as session:
        report = session.get_one(Report, report_id)
        payload = {
            "report_id": report.id,
            "status": report.status.value,
            "url": f"{settings.reports_url}/reports/{report.id}",
        }
    return asyncio.run(post_notices(settings.reports_webhook_urls, payload))
