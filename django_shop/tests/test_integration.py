"""The whole path with nothing mocked: the site, Redis, a real worker process, SMTP."""

import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from config.env import SETTINGS
from shared.testing import SmtpSink, start_worker, wait_until
from shop.models import Order
from shop.tasks import send_order_confirmation
from tests.conftest import UseBroker
from tests.factories import OrderFactory, OrderLineFactory, ProductFactory

APP_DIR = Path(__file__).resolve().parents[1]


def worker_env(broker_url: str, smtp_sink: SmtpSink, var_dir: Path) -> dict[str, str]:
    """A worker with the development settings, on this test's database, broker and SMTP sink."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "SHOP_DATABASE_URL": (
            SETTINGS.shop_test_database_url or f"sqlite:///{connection.settings_dict['NAME']}"
        ),
        "CELERY_BROKER_URL": broker_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_sink.port),
        "VAR_DIR": str(var_dir),
    }


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_order_is_confirmed_once_by_a_real_worker(
    client: Client, redis_url: str, smtp_sink: SmtpSink, use_broker: UseBroker, tmp_path: Path
) -> None:
    broker_url = f"{redis_url}/0"
    use_broker(broker_url)
    product = ProductFactory.create(name="Hand Grinder", price="64.00")
    env = worker_env(broker_url, smtp_sink, tmp_path)

    with start_worker("config.celery_app", queue="shop", cwd=APP_DIR, env=env):
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


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_send_one_email_and_never_stall_a_checkout(
    client: Client, redis_url: str, smtp_sink: SmtpSink, use_broker: UseBroker, tmp_path: Path
) -> None:
    """The claim holds no lock while SMTP talks, and lets only one run send.

    Two processes of a real worker get the same confirmation at once (what a
    redelivery, a retry and the sweep can all cause) while the mail server takes
    seconds to answer. Exactly one email goes out, and a checkout placed
    meanwhile does not wait for the mail server.
    """
    broker_url = f"{redis_url}/2"
    use_broker(broker_url)
    smtp_sink.delay = 3.0
    order = OrderFactory.create(customer_email="twice@example.com")
    OrderLineFactory.create(order=order, product=ProductFactory.create(name="Tamper"), quantity=1)
    product = ProductFactory.create(name="Scale", price="45.00")
    env = worker_env(broker_url, smtp_sink, tmp_path)

    with start_worker("config.celery_app", queue="shop", cwd=APP_DIR, env=env, concurrency=2):
        send_order_confirmation.delay(order.pk)
        send_order_confirmation.delay(order.pk)
        wait_until(
            lambda: Order.objects.filter(confirmation_claimed_until__isnull=False), timeout=10
        )

        started = time.monotonic()
        client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
        checkout = client.post(reverse("shop:checkout"), {"name": "Bo", "email": "bo@example.com"})
        assert checkout.status_code == 302
        assert time.monotonic() - started < 1.5, "the checkout waited for the mail server"

        wait_until(lambda: Order.objects.get(pk=order.pk).confirmation_sent_at, timeout=20)
        time.sleep(smtp_sink.delay + 1)  # long enough for a second copy to arrive

    copies = [m for m in smtp_sink.messages if m["To"] == "twice@example.com"]
    assert len(copies) == 1
    assert copies[0]["Message-ID"] == f"<order-{order.number}.confirmation@example.com>"
