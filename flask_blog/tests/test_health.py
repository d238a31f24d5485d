from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.testing import free_port


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_url: str) -> dict[str, Any]:
    return {**app_config, "CELERY": {"broker_url": f"{redis_url}/0"}}


def test_health_checks_database_and_broker(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert [check["name"] for check in response.get_json()["checks"]] == ["database", "broker"]


def test_health_fails_when_the_broker_is_down(app: Flask, client: FlaskClient) -> None:
    app.extensions["celery"].conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/health")
    assert response.status_code == 503
    broker = response.get_json()["checks"][1]
    assert (broker["name"], broker["ok"]) == ("broker", False)
