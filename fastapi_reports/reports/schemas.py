"""What the API accepts and returns. Validation lives here, so the page form and the API agree.

The domain's own types (report type, format, period, status) live with the
tables, in reports/models.py: the worker uses them without importing the API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

from reports.models import FORMATS, Period, ReportFormat, ReportStatus, ReportType
from shared.timeline import Kind

#: The largest request body the app reads. Every form and JSON body it takes is a
#: few hundred bytes; a larger one is refused (413) before it fills the memory.
MAX_BODY_BYTES = 64 * 1024
#: The earliest day a report may start on, and the longest span it may cover.
EARLIEST_DATE = dt.date(2000, 1, 1)
MAX_SPAN_DAYS = 3 * 366


class ReportRequest(BaseModel):
    """The parameters of a report. Errors name the field and say what would be accepted."""

    model_config = ConfigDict(extra="forbid")

    report_type: ReportType
    format: ReportFormat
    date_from: dt.date
    date_to: dt.date
    period: Period = Period.MONTH

    @field_validator("format")
    @classmethod
    def _format_fits_type(cls, value: ReportFormat, info: ValidationInfo) -> ReportFormat:
        report_type = info.data.get("report_type")
        if report_type is not None and value not in FORMATS[report_type]:
            allowed = ", ".join(FORMATS[report_type])
            raise ValueError(f"a {report_type} report can be built as {allowed}, not {value}")
        return value

    @field_validator("date_from")
    @classmethod
    def _not_too_early(cls, value: dt.date) -> dt.date:
        if value < EARLIEST_DATE:
            raise ValueError(f"the start date must be on or after {EARLIEST_DATE}")
        return value

    @field_validator("date_to")
    @classmethod
    def _range_in_order_and_bounded(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        if value > dt.datetime.now(dt.UTC).date():
            raise ValueError("the end date cannot be in the future")
        date_from = info.data.get("date_from")
        if date_from is None:
            return value
        if value < date_from:
            raise ValueError(f"the end date must be on or after the start date ({date_from})")
        if (value - date_from).days > MAX_SPAN_DAYS:
            raise ValueError(f"a report can cover at most {MAX_SPAN_DAYS} days; shorten the range")
        return value


class FieldError(BaseModel):
    """One thing wrong with a request: where (`loc`), what (`msg`), and its kind (`type`)."""

    model_config = ConfigDict(extra="forbid")

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrors(BaseModel):
    """The body of a 422, as documented and as sent: nothing more than each bad field."""

    model_config = ConfigDict(extra="forbid")

    detail: list[FieldError]


def readable(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors in the shape FastAPI documents for a 422 (`loc`, `msg`, `type`).

    The "Value error, " prefix is dropped: the message is for a person. The input
    is left out: it may be large, and it is what the client sent anyway.
    """
    return [
        {
            "loc": list(error["loc"]),
            "msg": str(error["msg"]).removeprefix("Value error, "),
            "type": error["type"],
        }
        for error in errors
    ]


def _in_utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps no time zone, and every time this app stores is UTC: say so,
    # or the JSON would carry a local-looking time that is no RFC 3339 date-time.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_in_utc)]


class ReportOut(BaseModel):
    """A report as the API shows it to its owner."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    report_type: ReportType
    format: ReportFormat
    period: Period
    date_from: dt.date
    date_to: dt.date
    status: ReportStatus
    percent: int
    message: str
    row_count: int | None
    source_rows: int | None
    created_at: UtcDatetime
    finished_at: UtcDatetime | None


class TimelineEventOut(BaseModel):
    """One step in the life of a report's tasks, as it happened (reports/timeline.py)."""

    model_config = ConfigDict(from_attributes=True)

    kind: Kind
    at: UtcDatetime
    task_id: str
    task_name: str
    detail: str


class Message(BaseModel):
    """The body of an error the API raises on purpose (401, 404, 409, 503)."""

    detail: str


class CheckOut(BaseModel):
    name: str
    ok: bool
    detail: str
    seconds: float


class HealthOut(BaseModel):
    """The body of the health endpoints: 200 when every check passed, else 503."""

    status: Literal["ok", "fail"]
    checks: list[CheckOut]
