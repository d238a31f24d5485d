"""The reports worker's tasks. They take ids and plain values, and open their own session.

Nothing from a web request (its session, its user, a FastAPI dependency) ever
enters a task: the request commits the Report row and sends only its id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import func, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from reports.config import settings
from reports.db import SessionLocal
from reports.models import Report, ReportStatus
from reports.notify import post_notices
from reports.sales import Summary, count_sales, iter_sale_chunks
from reports.schemas import Period, ReportFormat
from reports.writers import write_report
from shared.celery_app import IDEMPOTENT
from shared.progress import Progress, ProgressReporter

logger = logging.getLogger(__name__)

#: Transient database errors (connection lost, database locked) are retried this often.
MAX_RETRIES = 3
UNFINISHED = (ReportStatus.PENDING, ReportStatus.RUNNING)


class ReportCancelledError(Exception):
    """The report's row left the running state while the task was building it."""


@shared_task(bind=True, name="reports.ping", ignore_result=False)
def ping(self: Task) -> dict[str, str]:
    """Proves a reports worker answers on the reports queue (see GET /health/worker)."""
    return {"app": "reports", "worker": str(self.request.hostname)}


@shared_task(bind=True, name="reports.build_report", max_retries=MAX_RETRIES, **IDEMPOTENT)
def build_report(self: Task, report_id: int) -> str:
    """Build report `report_id`, keeping its row up to date; returns the final status.

    Idempotent, hence acks_late: a retried or redelivered run rebuilds the same
    file over the old one, and a report already finished is left alone.
    """
    try:
        return _build(self, report_id)
    except ReportCancelledError:
        logger.info("report %s was cancelled while building", report_id)
        return ReportStatus.CANCELLED
    except SoftTimeLimitExceeded:
        _finish(report_id, ReportStatus.FAILED, message="Took too long: try a shorter range.")
        return ReportStatus.FAILED
    except OperationalError as exc:
        if self.request.retries < MAX_RETRIES:
            logger.warning("database error building report %s, retrying: %s", report_id, exc)
            raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
        _finish(report_id, ReportStatus.FAILED, message="The database was unavailable: try again.")
        raise
    except Exception:
        _finish(report_id, ReportStatus.FAILED, message="The report could not be built.")
        raise


def _build(task: Task, report_id: int) -> str:
    # The task's own session, opened here and closed before the file is written.
    with SessionLocal() as session:
        report = session.get(Report, report_id)
        if report is None:
            return "missing"
        if report.status.finished:  # cancelled before it started, or built by an earlier run
            return report.status
        report.status, report.task_id = ReportStatus.RUNNING, task.request.id
        session.commit()

        total = count_sales(session, report.date_from, report.date_to)
        reporter = ProgressReporter(
            task, total, on_update=lambda progress: _store_progress(session, report_id, progress)
        )
        reporter.update(0, "Reading sales")
        summary = Summary(Period(report.period))
        chunks = iter_sale_chunks(
            session, report.date_from, report.date_to, chunk_size=settings.reports_chunk_size
        )
        for chunk in chunks:
            summary.add(chunk)
            reporter.update(summary.source_rows, f"Read {summary.source_rows:,} of {total:,} sales")

    path = settings.files_dir / f"report-{report_id}.{report.format}"
    write_report(path, summary, ReportFormat(report.format))
    done = _finish(
        report_id,
        ReportStatus.DONE,
        message=f"{len(summary.groups):,} rows from {summary.source_rows:,} sales",
        file_name=path.name,
        row_count=len(summary.groups),
        source_rows=summary.source_rows,
        progress_current=total,
        progress_total=total,
    )
    if not done:  # cancelled while the file was being written
        path.unlink(missing_ok=True)
        raise ReportCancelledError
    if settings.reports_webhook_urls:
        notify_report_ready.delay(report_id)
    return ReportStatus.DONE


def _store_progress(session: Session, report_id: int, progress: Progress) -> None:
    """Mirror progress into the row; the same conditional update notices a cancel."""
    still_running = session.scalar(
        update(Report)
        .where(Report.id == report_id, Report.status == ReportStatus.RUNNING)
        .values(
            progress_current=progress["current"],
            progress_total=progress["total"],
            message=progress["message"],
        )
        .returning(Report.id)
    )
    session.commit()
    if still_running is None:
        raise ReportCancelledError


def _finish(report_id: int, status: ReportStatus, **values: Any) -> bool:
    """Move an unfinished report to `status`, in a session of its own; False if it had moved on."""
    with SessionLocal.begin() as session:
        moved = session.scalar(
            update(Report)
            .where(Report.id == report_id, Report.status.in_(UNFINISHED))
            .values(status=status, finished_at=func.now(), **values)
            .returning(Report.id)
        )
    return moved is not None


@shared_task(
    bind=True,
    name="reports.notify_report_ready",
    autoretry_for=(httpx.HTTPError,),
    retry_backoff=True,
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
