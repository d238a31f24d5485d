"""The whole path with nothing mocked: the site, Redis, a real worker process, SMTP."""

from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from config.env import SETTINGS
from shared.testing import SmtpSink, start_worker, wait_until
from shop.models import Order
from tests.conftest import UseBroker
from tests.factories import ProductFactory

APP_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_order_is_confirmed_once_by_a_real_worker(
    client: Client, redis_url: str, smtp_sink: SmtpSink, use_broker: UseBroker, tmp_path: Path
) -> None:
    broker_url = f"{redis_url}/0"
    use_broker(broker_url)
    product = ProductFactory(name="Hand Grinder", price="64.00")
    worker_env = {
        # The worker runs the development settings against this test's database.
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "SHOP_DATABASE_URL": (
            SETTINGS.shop_test_database_url or f"sqlite:///{connection.settings_dict['NAME']}"
        ),
        "CELERY_BROKER_URL": broker_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_sink.port),
        "VAR_DIR": str(tmp_path),
    }

    with start_worker("config.celery_app", queue="shop", cwd=APP_DIR, env=worker_env):
        client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 2})
        client.post(reverse("shop:checkout"), {"name": "Ada", "email": "ada@example.com"})
        order = Order.objects.get()

        message = smtp_sink.wait_for(lambda message: message["To"] == "ada@example.com")
        assert order.number in message["Subject"]
        text = message.get_payload(0).get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "128.00" in text
        wait_until(lambda: Order.objects.get().confirmation_sent_at, timeout=10)

        health = client.get("/health/worker")
        assert health.status_code == 200, health.json()
        worker_check = next(c for c in health.json()["checks"] if c["name"] == "worker")
        assert "shop-test" in worker_check["detail"]

    assert len(smtp_sink.messages) == 1
