"""What the API and the pages both do with reports: find, list, request, cancel, retry.

Finding and listing reports first fails the stale ones among them (reports/reaper.py),
so whoever looks at a report sees it failed, never stuck.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery.utils import uuid
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from reports.models import MAX_ID, Report, ReportEvent, ReportStatus, User
from reports.reaper import fail_stale_reports
from reports.runs import UNFINISHED
from reports.schemas import ReportRequest
from reports.tasks import build_report
from reports.timeline import TIMELINE

logger = logging.getLogger(__name__)


class QueueUnavailableError(Exception):
    """The broker could not be reached, so the report was not queued."""


def find_own_report(session: Session, *, owner: User, report_id: int) -> Report | None:
    """Report `report_id` if `owner` owns it: nobody can tell another's report from none."""
    if not 0 < report_id <= MAX_ID:  # /api/reports/99999999999999999999 names no report
        return None
    mine = (Report.id == report_id, Report.owner_id == owner.id)
    fail_stale_reports(session, *mine)
    return session.scalar(select(Report).where(*mine))


def timeline_of(session: Session, report: Report) -> Sequence[ReportEvent]:
    """The events of `report`'s tasks, oldest first (reports/timeline.py writes them)."""
    query = select(ReportEvent).where(ReportEvent.report_id == report.id)
    return session.scalars(query.order_by(ReportEvent.at, ReportEvent.id)).all()


def list_own_reports(session: Session, *, owner: User) -> Sequence[Report]:
    """The reports of `owner`, newest first."""
    fail_stale_reports(session, Report.owner_id == owner.id)
    query = select(Report).where(Report.owner_id == owner.id).order_by(Report.id.desc())
    return session.scalars(query).all()


def request_report(session: Session, *, owner: User, params: ReportRequest) -> Report:
    """Save a new report for `owner` and queue its build; raises QueueUnavailableError."""
    report = Report(owner_id=owner.id, task_id=uuid(), **params.model_dump())
    session.add(report)
    # Commit BEFORE sending: the worker must find the row when the message arrives.
    session.commit()
    _send(session, report)
    return report


def retry_report(session: Session, report: Report) -> bool:
    """Queue a failed `report` again, as a new message; False if it had not failed.

    A run of the old message that comes back later finds another task id on the
    row, and changes nothing. Raises QueueUnavailableError like `request_report`.
    """
    retried = session.scalar(
        update(Report)
        .where(Report.id == report.id, Report.status == ReportStatus.FAILED)
        .values(
            status=ReportStatus.PENDING,
            task_id=uuid(),
            queued_at=func.now(),
            started_at=None,
            finished_at=None,
            attempts=0,
            merge_attempts=0,
            progress_current=0,
            progress_total=0,
            message="Queued again.",
        )
        .returning(Report.id)
    )
    session.commit()
    session.refresh(report)
    if retried is None:
        return False
    _send(session, report)
    return True


def _send(session: Session, report: Report) -> None:
    # The message carries the row's task id, so its runs can tell the row is theirs.
    TIMELINE.committed(report.id, "the report's row is in the database, queued")
    try:
        build_report.apply_async((report.id,), task_id=report.task_id)
    except BrokerError:
        logger.exception("could not queue report %s", report.id)
        report.status, report.message = ReportStatus.FAILED, "Could not be queued: try again."
        report.finished_at = func.now()
        session.commit()
        raise QueueUnavailableError from None


def cancel_report(session: Session, report: Report) -> bool:
    """Cancel `report` if it is still pending or running; False if it had already finished.

    Only the row changes. A pending build sees the status when it starts and
    does nothing; a running one sees it at its next progress update and stops.
    Unlike `revoke`, this survives a worker restart and needs no broadcast.
    """
    cancelled = session.scalar(
        update(Report)
        .where(Report.id == report.id, Report.status.in_(UNFINISHED))
        .values(status=ReportStatus.CANCELLED, message="Cancelled.", finished_at=func.now())
        .returning(Report.id)
    )
    session.commit()
    session.refresh(report)
    return cancelled is not None
