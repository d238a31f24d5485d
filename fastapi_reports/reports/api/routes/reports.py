"""The reports API: request, list, read, follow (Server-Sent Events), its tasks' timeline,
download, cancel, retry.

Reading a report (here and on the pages) fails it first if it can no longer
finish: see reports/reaper.py for why on read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from reports.api.deps import AuditDep, CurrentUserDep, OwnReportDep, SessionDep
from reports.api.responses import (
    BAD_BODY,
    CROSS_SITE,
    INVALID,
    NO_SUCH_REPORT,
    NOT_NOW,
    NOT_SIGNED_IN,
    QUEUE_DOWN,
)
from reports.db import SessionLocal
from reports.files import stored_file
from reports.models import Report, ReportStatus
from reports.reaper import fail_stale_reports
from reports.schemas import ReportOut, ReportRequest, TimelineEventOut
from reports.service import (
    QueueUnavailableError,
    cancel_report,
    list_own_reports,
    request_report,
    retry_report,
    timeline_of,
)

router = APIRouter(prefix="/api/reports", tags=["reports"], responses=NOT_SIGNED_IN)

#: How often the event stream looks at the report's row.
POLL_SECONDS = 0.5
MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
}


def _queue_unavailable() -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, "The report queue is unavailable: try again."
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=BAD_BODY | CROSS_SITE | INVALID | QUEUE_DOWN,
)
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
        raise _queue_unavailable() from None
    audit("report.requested", user_id=user.id, report_id=report.id)
    response.headers["Location"] = str(request.url_for("read_report", report_id=report.id))
    return ReportOut.model_validate(report)


@router.get("")
def list_reports(user: CurrentUserDep, session: SessionDep) -> list[ReportOut]:
    """The current user's reports, newest first."""
    return [ReportOut.model_validate(report) for report in list_own_reports(session, owner=user)]


@router.get("/{report_id}", responses=INVALID | NO_SUCH_REPORT)
def read_report(report: OwnReportDep) -> ReportOut:
    """Status and progress; poll it where Server-Sent Events are not available."""
    return ReportOut.model_validate(report)


def _snapshot(report_id: int) -> ReportOut:
    # A fresh session per look: the request's session must not live as long as the stream.
    with SessionLocal() as session:
        fail_stale_reports(session, Report.id == report_id)  # so a stuck report's stream ends
        return ReportOut.model_validate(session.get_one(Report, report_id))


@router.get(
    "/{report_id}/events",
    response_class=EventSourceResponse,
    responses=INVALID | NO_SUCH_REPORT,
)
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


@router.get("/{report_id}/timeline", responses=INVALID | NO_SUCH_REPORT)
def read_timeline(report: OwnReportDep, session: SessionDep) -> list[TimelineEventOut]:
    """The life of the report's tasks, oldest first: committed, published, received..."""
    return [TimelineEventOut.model_validate(event) for event in timeline_of(session, report)]


@router.get(
    "/{report_id}/download",
    response_class=FileResponse,
    responses=INVALID | NO_SUCH_REPORT | NOT_NOW,
)
def download_report(report: OwnReportDep, user: CurrentUserDep, audit: AuditDep) -> FileResponse:
    """The finished file; 409 while the report is not done."""
    if report.status != ReportStatus.DONE or report.file_name is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"The report is {report.status}, not done.")
    path = stored_file(report.file_name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "The report's file is gone.")
    audit("report.downloaded", user_id=user.id, report_id=report.id)
    name = f"{report.report_type}-{report.date_from}-{report.date_to}.{report.format}"
    return FileResponse(path, media_type=MEDIA_TYPES[report.format], filename=name)


@router.post(
    "/{report_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses=CROSS_SITE | INVALID | NO_SUCH_REPORT | NOT_NOW,
)
def cancel(
    report: OwnReportDep, user: CurrentUserDep, session: SessionDep, audit: AuditDep
) -> ReportOut:
    """Cancel a pending or running report; 409 once it has finished."""
    if not cancel_report(session, report):
        raise HTTPException(status.HTTP_409_CONFLICT, f"The report is already {report.status}.")
    audit("report.cancelled", user_id=user.id, report_id=report.id)
    return ReportOut.model_validate(report)


@router.post(
    "/{report_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    responses=CROSS_SITE | INVALID | NO_SUCH_REPORT | NOT_NOW | QUEUE_DOWN,
)
def retry(
    report: OwnReportDep, user: CurrentUserDep, session: SessionDep, audit: AuditDep
) -> ReportOut:
    """Queue a failed report again; 409 unless it has failed."""
    try:
        retried = retry_report(session, report)
    except QueueUnavailableError:
        raise _queue_unavailable() from None
    if not retried:
        raise HTTPException(status.HTTP_409_CONFLICT, f"The report is {report.status}, not failed.")
    audit("report.retried", user_id=user.id, report_id=report.id)
    return ReportOut.model_validate(report)
