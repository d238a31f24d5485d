"""The server-rendered pages: home, my reports with the request form, one report's progress.

Like the API, a page that shows reports first fails the stale ones (reports/reaper.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from reports.api.deps import AuditDep, OptionalUserDep, SessionDep
from reports.models import FORMATS, Period, ReportType, User
from reports.schemas import ReportRequest, readable
from reports.service import (
    QueueUnavailableError,
    cancel_report,
    find_own_report,
    list_own_reports,
    request_report,
    retry_report,
    timeline_of,
)
from reports.templating import templates
from shared.timeline import rows

router = APIRouter(tags=["pages"], include_in_schema=False)

FormText = Annotated[str, Form()]


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


def _reports_page(
    request: Request,
    session: Session,
    user: User,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    today = dt.datetime.now(dt.UTC).date()
    defaults = {
        "report_type": ReportType.SALES_SUMMARY.value,
        "format": "csv",
        "period": Period.MONTH.value,
        "date_from": (today - dt.timedelta(days=365)).isoformat(),
        "date_to": today.isoformat(),
    }
    context: dict[str, Any] = {
        "user": user,
        "reports": list_own_reports(session, owner=user),
        "values": values or defaults,
        "errors": errors or {},
        "report_types": list(ReportType),
        "formats": FORMATS,
        "periods": list(Period),
    }
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK
    return templates.TemplateResponse(request, "reports.html", context, status_code=code)


@router.get("/")
def home(request: Request, user: OptionalUserDep) -> Response:
    return templates.TemplateResponse(request, "home.html", {"user": user})


@router.get("/reports")
def my_reports(request: Request, session: SessionDep, user: OptionalUserDep) -> Response:
    if user is None:
        return _to_login()
    return _reports_page(request, session, user)


@router.post("/reports")
def request_report_form(
    request: Request,
    session: SessionDep,
    user: OptionalUserDep,
    audit: AuditDep,
    report_type: FormText,
    format: FormText,
    date_from: FormText,
    date_to: FormText,
    period: FormText,
) -> Response:
    if user is None:
        return _to_login()
    values = {
        "report_type": report_type,
        "format": format,
        "date_from": date_from,
        "date_to": date_to,
        "period": period,
    }
    try:
        params = ReportRequest.model_validate(values)
    except ValidationError as exc:
        errors = {str(error["loc"][0]): error["msg"] for error in readable(exc.errors())}
        return _reports_page(request, session, user, values=values, errors=errors)
    try:
        report = request_report(session, owner=user, params=params)
    except QueueUnavailableError:
        errors = {"form": "The report queue is unavailable right now: try again in a minute."}
        return _reports_page(request, session, user, values=values, errors=errors)
    audit("report.requested", user_id=user.id, report_id=report.id)
    return RedirectResponse(f"/reports/{report.id}", status_code=status.HTTP_303_SEE_OTHER)


def _not_found(request: Request, user: User) -> Response:
    # Someone else's report and one that does not exist look the same.
    return templates.TemplateResponse(
        request, "not_found.html", {"user": user}, status_code=status.HTTP_404_NOT_FOUND
    )


@router.get("/reports/{report_id}")
def report_page(
    request: Request, report_id: int, session: SessionDep, user: OptionalUserDep
) -> Response:
    if user is None:
        return _to_login()
    report = find_own_report(session, owner=user, report_id=report_id)
    if report is None:
        return _not_found(request, user)
    timeline = rows(timeline_of(session, report))
    context = {"user": user, "report": report, "timeline": timeline}
    return templates.TemplateResponse(request, "report.html", context)


@router.post("/reports/{report_id}/cancel")
def cancel_report_form(
    request: Request, report_id: int, session: SessionDep, user: OptionalUserDep, audit: AuditDep
) -> Response:
    if user is None:
        return _to_login()
    report = find_own_report(session, owner=user, report_id=report_id)
    if report is None:
        return _not_found(request, user)
    if cancel_report(session, report):
        audit("report.cancelled", user_id=user.id, report_id=report.id)
    return RedirectResponse(f"/reports/{report_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/reports/{report_id}/retry")
def retry_report_form(
    request: Request, report_id: int, session: SessionDep, user: OptionalUserDep, audit: AuditDep
) -> Response:
    if user is None:
        return _to_login()
    report = find_own_report(session, owner=user, report_id=report_id)
    if report is None:
        return _not_found(request, user)
    try:
        if retry_report(session, report):
            audit("report.retried", user_id=user.id, report_id=report.id)
    except QueueUnavailableError:
        pass  # the row says so: "Could not be queued: try again."
    return RedirectResponse(f"/reports/{report_id}", status_code=status.HTTP_303_SEE_OTHER)
