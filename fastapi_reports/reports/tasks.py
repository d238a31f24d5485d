"""The reports worker's tasks. They take ids and plain values, and open their own session.

Nothing from a web request (its session, its user, a FastAPI dependency) ever
enters a task: the request commits the Report row and sends only its id.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from reports.config import settings
from reports.db import SessionLocal
from reports.files import remove_report_files, report_file_name
from reports.models import Report, ReportStatus
from reports.notify import post_notices
from reports.runs import Run, RunSupersededError
from reports.sales import Summary, date_slices, summarize_slice
from reports.schemas import Period, ReportFormat
from reports.writers import write_report
from shared.celery_app import IDEMPOTENT, MAX_RETRY_DELAY
from shared.progress import ProgressReporter

logger = logging.getLogger(__name__)

#: Transient database errors (connection lost, database locked) are retried this often.
MAX_RETRIES = 3
#: A message delivered this often without its run ever finishing is poison (it
#: kills its worker: out of memory, a crash): the next delivery fails the report
#: instead of dying too. acks_late with reject_on_worker_lost would otherwise
#: hand it to a worker forever.
MAX_DELIVERIES = 3


@shared_task(bind=True, name="reports.ping", ignore_result=False)
def ping(self: Task) -> dict[str, str]:
    """Proves a reports worker answers on the reports queue (see GET /health/worker)."""
    return {"app": "reports", "worker": str(self.request.hostname)}


@shared_task(bind=True, name="reports.build_report", max_retries=MAX_RETRIES, **IDEMPOTENT)
def build_report(self: Task, report_id: int) -> str:
    """Build report `report_id`, keeping its row up to date; returns the final status.

    Idempotent, hence acks_late: a retried or redelivered run rebuilds the same
    file, and a report already finished is left alone. Every change to the row
    is conditional on the row still being this message's (reports/runs.py).
    """
    run = Run(report_id, self.request.id)
    try:
        return _build(self, run)
    except RunSupersededError:
        logger.info("report %s moved on while this run was building it", report_id)
        return _status_now(report_id)
    except SoftTimeLimitExceeded:
        run.finish(ReportStatus.FAILED, message="Took too long: try a shorter range.")
        return ReportStatus.FAILED
    except OperationalError as exc:
        if self.request.retries < MAX_RETRIES:
            logger.warning("database error building report %s, retrying: %s", report_id, exc)
            raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
        run.finish(ReportStatus.FAILED, message="The database was unavailable: try again.")
        raise
    except Exception:
        run.finish(ReportStatus.FAILED, message="The report could not be built.")
        raise


def _build(task: Task, run: Run) -> str:
    # The task's own session, opened here and closed before the file is written.
    with SessionLocal() as session:
        attempts = run.start(session)
        if attempts is None:  # finished, cancelled, failed, queued again, or missing
            return _status_now(run.report_id)
        remove_report_files(run.report_id)  # what a run killed mid-write left behind
        # Our own retries start the message again too; only the other starts are deliveries.
        if attempts - task.request.retries > MAX_DELIVERIES:
            message = f"Stopped: {MAX_DELIVERIES} runs never finished (each lost its worker)."
            run.finish(ReportStatus.FAILED, message=message)
            return ReportStatus.FAILED
        report = session.get_one(Report, run.report_id)
        # Progress counts days, not sales: the days are known for free, where counting
        # the sales first would scan the range twice. The bar moves evenly through the
        # calendar, ahead of the work or behind it only as unevenly as the sales fall.
        reporter = ProgressReporter(
            task,
            (report.date_to - report.date_from).days + 1,
            on_update=lambda progress: run.store_progress(session, progress),
        )
        summary = _sum_sales(session, report, reporter)

    path = settings.files_dir / report_file_name(run.report_id, run.task_id, report.format)
    write_report(path, summary, ReportFormat(report.format))
    done = run.finish(
        ReportStatus.DONE,
        message=f"{len(summary.groups):,} rows from {summary.source_rows:,} sales",
        file_name=path.name,
        row_count=len(summary.groups),
        source_rows=summary.source_rows,
        progress_current=reporter.total,
        progress_total=reporter.total,
    )
    if not done:  # cancelled or failed while the file was being written; the name is ours only
        path.unlink(missing_ok=True)
        raise RunSupersededError
    if settings.reports_webhook_urls:
        notify_report_ready.delay(run.report_id)
    return ReportStatus.DONE


def _sum_sales(session: Session, report: Report, reporter: ProgressReporter) -> Summary:
    """The report's summary, summed one slice of days at a time, with progress after each.

    `reporter` writes to the row (`Run.store_progress`), and every slice ends in
    such a write: conditional on the report still being this run's, so a cancel,
    the reaper or a retry raises RunSupersededError there, before the next slice
    is read; and committed, so no read stays open from one slice to the next.
    """
    summary = Summary(Period(report.period))
    reporter.update(0, "Adding up the sales")
    for first, last in date_slices(report.date_from, report.date_to):
        summary.add(summarize_slice(session, first, last))
        days_done = (last - report.date_from).days + 1
        message = f"Added up the sales to {last.isoformat()}: {summary.source_rows:,} so far"
        reporter.update(days_done, message, force=True)  # each slice, not each 0.5 s
    return summary


def _status_now(report_id: int) -> str:
    with SessionLocal() as session:
        report = session.get(Report, report_id)
        return report.status if report is not None else "missing"


@shared_task(
    bind=True,
    name="reports.notify_report_ready",
    autoretry_for=(httpx.HTTPError,),
    retry_backoff=True,
    retry_backoff_max=MAX_RETRY_DELAY,
    max_retries=5,
)
def notify_report_ready(self: Task, report_id: int) -> list[int]:
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
