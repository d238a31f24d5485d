"""What the API accepts and returns. Validation lives here, so the page form and the API agree."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from reports.models import ReportStatus

#: The earliest day a report may start on, and the longest span it may cover.
EARLIEST_DATE = dt.date(2000, 1, 1)
MAX_SPAN_DAYS = 3 * 366


class ReportType(enum.StrEnum):
    SALES_SUMMARY = "sales_summary"
    SALES_CHART = "sales_chart"

    @property
    def label(self) -> str:
        return {"sales_summary": "Sales by period and region", "sales_chart": "Revenue chart"}[
            self.value
        ]


class ReportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    PNG = "png"


class Period(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


#: The formats each report type can be built in.
FORMATS: dict[ReportType, tuple[ReportFormat, ...]] = {
    ReportType.SALES_SUMMARY: (ReportFormat.CSV, ReportFormat.XLSX),
    ReportType.SALES_CHART: (ReportFormat.PNG,),
}


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


def readable(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors with the "Value error, " prefix dropped: the message is for a person."""
    return [
        {"loc": list(error["loc"]), "msg": str(error["msg"]).removeprefix("Value error, ")}
        for error in errors
    ]


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
    created_at: dt.datetime
    finished_at: dt.datetime | None
