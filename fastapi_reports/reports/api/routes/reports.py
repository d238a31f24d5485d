"""The reports API: request, list, read, follow (Server-Sent Events), download, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import select

from reports.api.deps import AuditDep, CurrentUserDep, OwnReportDep, SessionDep
from reports.config import settings
from reports.db import SessionLocal
from reports.models import Report, ReportStatus
from reports.schemas import ReportOut, ReportRequest
from reports.service import QueueUnavailableError, cancel_report, request_report

router = APIRouter(prefix="/api/reports", tags=["reports"])

#: How often the event stream looks at the report's row.
POLL_SECONDS = 0.5
MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
}


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def create_report(
    params: ReportRequest,
    user: CurrentUserDep,
    session: SessionDep,
    audit: AuditDep,
    request: Request,
    response: Response,
) -> ReportOut:
    """Queue a report. 202 Accepted: follow `Location` (or its `/events`) until it is done."""
    try:
        report = request_report(session, owner=user, params=params)
    except QueueUnavailableError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The report queue is unavailable: try again."
        ) from None
    audit("report.requested", user_id=user.id, report_id=report.id)
    response.headers["Location"] = str(request.url_for("read_report", report_id=report.id))
    return ReportOut.model_validate(report)


@router.get("")
def list_reports(user: CurrentUserDep, session: SessionDep) -> list[ReportOut]:
    """The current user's reports, newest first."""
    query = select(Report).where(Report.owner_id == user.id).order_by(Report.id.desc())
    return [ReportOut.model_validate(report) for report in session.scalars(query)]


@router.get("/{report_id}")
def read_report(report: OwnReportDep) -> ReportOut:
    """Status and progress; poll it where Server-Sent Events are not available."""
    return ReportOut.model_validate(report)


def _snapshot(report_id: int) -> ReportOut:
    # A fresh session per look: the request's session must not live as long as the stream.
    with SessionLocal() as session:
        return ReportOut.model_validate(session.get_one(Report, report_id))


@router.get("/{report_id}/events", response_class=EventSourceResponse)
async def report_events(report: OwnReportDep) -> AsyncIterator[ServerSentEvent]:
    """A `progress` event whenever the report changes; the stream ends when it finishes."""
    report_id, last = report.id, None
    while True:
        snapshot = await run_in_threadpool(_snapshot, report_id)
        if snapshot != last:
            yield ServerSentEvent(event="progress", data=snapshot)
            last = snapshot
        if snapshot.status.finished:
            return
        await anyio.sleep(POLL_SECONDS)


@router.get("/{report_id}/download", response_class=FileResponse)
def download_report(report: OwnReportDep, user: CurrentUserDep, audit: AuditDep) -> FileResponse:
    """The finished file; 409 while the report is not done."""
    if report.status != ReportStatus.DONE or report.file_name is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"The report is {report.status}, not done.")
    audit("report.downloaded", user_id=user.id, report_id=report.id)
    name = f"{report.report_type}-{report.date_from}-{report.date_to}.{report.format}"
    return FileResponse(
        settings.files_dir / report.file_name, media_type=MEDIA_TYPES[report.format], filename=name
    )


@router.post("/{report_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel(
    report: OwnReportDep, user: CurrentUserDep, session: SessionDep, audit: AuditDep
) -> ReportOut:
    """Cancel a pending or running report; 409 once it has finished."""
    if not cancel_report(session, report):
        raise HTTPException(status.HTTP_409_CONFLICT, f"The report is already {report.status}.")
    audit("report.cancelled", user_id=user.id, report_id=report.id)
    return ReportOut.model_validate(report)
