"""/health needs the database and the broker; /health/worker also a worker (see integration)."""

import pytest
from django.test import Client

from shared.testing import free_port
from tests.conftest import UseBroker

pytestmark = pytest.mark.django_db


def test_health_ok_with_database_and_broker(
    client: Client, redis_url: str, use_broker: UseBroker
) -> None:
    use_broker(f"{redis_url}/0")
    response = client.get("/health")
    assert response.status_code == 200
    assert {check["name"]: check["ok"] for check in response.json()["checks"]} == {
        "database": True,
        "broker": True,
    }


def test_health_fails_without_a_broker(client: Client, use_broker: UseBroker) -> None:
    use_broker(f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"
