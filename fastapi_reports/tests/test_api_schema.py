"""The reports API keeps the promises of its own OpenAPI schema, under generated input.

schemathesis reads /openapi.json and, for every operation, sends requests built
from the schema (and, negatively, from outside it) to the app in this process,
signed in and from this site. Every answer must be documented: no 5xx, status
codes the schema lists, bodies of the documented shape.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import jsonschema
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from reports import service
from reports.main import create_app
from reports.models import User

# The reports API; the health endpoints answer 503 by design here (no worker runs).
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app()).include(tag="reports")


@pytest.fixture
def signed_in(client: TestClient, alice: User, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Alice's session cookie and this site's Origin, as headers; queuing always succeeds."""
    monkeypatch.setattr(service, "build_report", MagicMock())
    return {
        "Cookie": f"reports_session={client.cookies['reports_session']}",
        "Origin": "http://testserver",
    }


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    # One signed-in user for all the examples of an operation, on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_its_schema(case: schemathesis.Case[Any], signed_in: dict[str, str]) -> None:
    case.call_and_validate(
        headers=signed_in,
        excluded_checks=[
            # The schema cannot say that a chart is a PNG, nor that the end date
            # follows the start date: such a request is schema-valid and still
            # refused, with the documented 422 that names the field.
            schemathesis.checks.positive_data_acceptance,
            # Starlette answers an unknown method on /api/reports (GET and POST)
            # with the Allow header of the first route only.
            schemathesis.checks.allow_header_conformance,
        ],
    )


def test_every_422_documents_the_body_the_app_sends(client: TestClient, alice: User) -> None:
    document = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    documented = [
        operation["responses"]["422"]["content"]["application/json"]["schema"]
        for path in document["paths"].values()
        for operation in path.values()
        if "422" in operation["responses"]
    ]
    assert len(documented) == 7  # the request, and the six operations of one report
    schema = documented[0]
    assert all(other == schema for other in documented)
    # Exactly the fields sent, all of them required: a body with more or fewer fails.
    assert (schema["required"], schema["additionalProperties"]) == (["detail"], False)
    item = schema["properties"]["detail"]["items"]
    assert (sorted(item["required"]), item["additionalProperties"]) == (
        ["loc", "msg", "type"],
        False,
    )
    bad = client.post(
        "/api/reports",
        json={"report_type": "sales_chart", "format": "csv", "date_from": "x"},
        headers={"Origin": "http://testserver"},
    )
    assert bad.status_code == 422
    jsonschema.validate(bad.json(), schema)
    assert client.get("/api/reports/not-a-number").status_code == 422
    jsonschema.validate(client.get("/api/reports/not-a-number").json(), schema)
