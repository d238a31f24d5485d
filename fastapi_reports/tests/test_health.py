"""Health endpoints against the private Redis (no worker: see test_integration for that)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_health_checks_database_and_broker(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    checks = {check["name"]: check for check in response.json()["checks"]}
    assert checks.keys() == {"database", "broker"}
    assert all(check["ok"] for check in checks.values())


def test_health_fails_when_the_broker_is_down(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    response = client.get("/health")
    assert response.status_code == 503
    broker = next(check for check in response.json()["checks"] if check["name"] == "broker")
    assert not broker["ok"]
    assert "Error" in broker["detail"]


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"] == "abc-1"
    )


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/reports", "/api/reports/{report_id}/events"} <= paths.keys()
