"""Report parameters: what is accepted, and what a person is told when it is not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from reports.schemas import MAX_SPAN_DAYS, ReportRequest, readable

TODAY = dt.datetime.now(dt.UTC).date()
VALID: dict[str, Any] = {
    "report_type": "sales_summary",
    "format": "xlsx",
    "date_from": "2024-01-01",
    "date_to": "2024-12-31",
    "period": "week",
}


def errors_of(**changes: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        ReportRequest.model_validate({**VALID, **changes})
    return {str(error["loc"][0]): error["msg"] for error in readable(caught.value.errors())}


def test_valid_request_is_parsed() -> None:
    request = ReportRequest.model_validate(VALID)
    assert request.date_to - request.date_from == dt.timedelta(days=365)
    assert request.period == "week"


def test_period_defaults_to_month() -> None:
    data = {key: value for key, value in VALID.items() if key != "period"}
    assert ReportRequest.model_validate(data).period == "month"


def test_end_before_start_names_the_start() -> None:
    errors = errors_of(date_from="2024-05-02", date_to="2024-05-01")
    assert errors == {"date_to": "the end date must be on or after the start date (2024-05-02)"}


def test_range_is_bounded() -> None:
    start = TODAY - dt.timedelta(days=MAX_SPAN_DAYS + 1)
    errors = errors_of(date_from=start.isoformat(), date_to=TODAY.isoformat())
    assert errors == {
        "date_to": f"a report can cover at most {MAX_SPAN_DAYS} days; shorten the range"
    }


def test_future_and_ancient_dates_are_refused() -> None:
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    assert errors_of(date_to=tomorrow) == {"date_to": "the end date cannot be in the future"}
    assert "2000-01-01" in errors_of(date_from="1999-12-31")["date_from"]


def test_format_must_fit_the_report_type() -> None:
    errors = errors_of(report_type="sales_chart", format="csv")
    assert errors == {"format": "a sales_chart report can be built as png, not csv"}


def test_unknown_values_list_the_known_ones() -> None:
    errors = errors_of(report_type="profit", format="pdf", period="year")
    assert "'sales_summary' or 'sales_chart'" in errors["report_type"]
    assert "'csv', 'xlsx' or 'png'" in errors["format"]
    assert "'day', 'week' or 'month'" in errors["period"]


def test_unexpected_fields_are_refused() -> None:
    assert "extra" in errors_of(owner_id=1)["owner_id"].lower()
