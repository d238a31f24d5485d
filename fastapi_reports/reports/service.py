"""What the API and the pages both do with reports: request one, cancel one."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from reports.models import MAX_ID, Report, ReportStatus, User
from reports.schemas import ReportRequest
from reports.tasks import UNFINISHED, build_report

logger = logging.getLogger(__name__)


class QueueUnavailableError(Exception):
    """The broker could not be reached, so the report was not queued."""


def find_own_report(session: Session, *, owner: User, report_id: int) -> Report | None:
    """Report `report_id` if `owner` owns it: nobody can tell another's report from none."""
    if not 0 < report_id <= MAX_ID:  # /api/reports/99999999999999999999 names no report
        return None
    query = select(Report).where(Report.id == report_id, Report.owner_id == owner.id)
    return session.scalar(query)


def request_report(session: Session, *, owner: User, params: ReportRequest) -> Report:
    """Save a new report for `owner` and queue its build; raises QueueUnavailableError."""
    report = Report(owner_id=owner.id, **params.model_dump())
    session.add(report)
    # Commit BEFORE sending: the worker must find the row when the message arrives.
    session.commit()
    try:
        build_report.delay(report.id)
    except BrokerError:
        logger.exception("could not queue report %s", report.id)
        report.status, report.message = ReportStatus.FAILED, "Could not be queued: try again."
        session.commit()
        raise QueueUnavailableError from None
    return report


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
