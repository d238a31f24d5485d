"""The order page's task timeline: committed before published, then what the worker did."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
import redis
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks

from shared.testing import SmtpSink, start_worker, wait_until
from shop.models import Order, OrderEvent
from tests.conftest import UseBroker
from tests.factories import ProductFactory
from tests.test_integration import APP_DIR, worker_env


def kinds(order: Order) -> list[str]:
    return [event.kind for event in OrderEvent.objects.filter(order=order)]


def buy(client: Client) -> Order:
    product = ProductFactory.create(name="Moka Pot", price="30.00", stock=3)
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
    client.post(reverse("shop:checkout"), {"name": "Ada", "email": "ada@example.com"})
    return Order.objects.get()


@pytest.mark.django_db
def test_the_checkout_writes_no_event_and_stamps_the_commit_before_the_publish(
    client: Client,
    redis_url: str,
    use_broker: UseBroker,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    use_broker(f"{redis_url}/3")  # a queue no worker consumes: only the publish happens
    with django_capture_on_commit_callbacks(execute=True):
        order = buy(client)

    assert not OrderEvent.objects.filter(order=order).exists()  # the worker writes them
    broker = redis.Redis.from_url(f"{redis_url}/3")
    [message] = [json.loads(raw) for raw in broker.lrange("shop", 0, -1)]
    broker.flushdb()  # the message, for no later test to take
    headers = message["headers"]
    assert headers["task"] == "shop.tasks.send_order_confirmation"
    assert headers["timeline_committed_at"] <= headers["timeline_published_at"]


@pytest.mark.django_db
def test_a_rolled_back_checkout_records_nothing(
    client: Client, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    product = ProductFactory.create(stock=1)
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
    product.stock = 0  # sold out meanwhile: the checkout's transaction rolls back
    product.save()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("shop:checkout"), {"name": "Ada", "email": "ada@example.com"})
    assert not Order.objects.exists()
    assert not OrderEvent.objects.exists()


@pytest.mark.django_db
def test_the_order_page_shows_its_timeline_to_its_customer_only(
    client: Client, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    with django_capture_on_commit_callbacks():  # not run: the test writes the events
        order = buy(client)
    at = datetime.fromisoformat("2026-03-01T14:03:07.125+00:00")
    OrderEvent.objects.create(order=order, kind="committed", at=at)
    OrderEvent.objects.create(
        order=order, kind="published", at=at.replace(microsecond=137000), task_id="abc"
    )

    html = client.get(order.get_absolute_url()).content.decode()
    assert re.findall(r'<tr data-kind="(\w+)">', html) == ["committed", "published"]
    assert "<caption>Task timeline</caption>" in html
    assert "14:03:07.137" in html
    assert "+0.012 s" in html
    assert Client().get(order.get_absolute_url()).status_code == 404  # another visitor


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_it_and_a_refused_email_is_retried_after_its_wait(
    client: Client, redis_url: str, smtp_sink: SmtpSink, use_broker: UseBroker, tmp_path: Path
) -> None:
    broker_url = f"{redis_url}/4"
    use_broker(broker_url)
    smtp_sink.refuse = 1  # the first attempt gets "451 Try again later"
    with start_worker(
        "config.celery_app",
        queue="shop",
        cwd=APP_DIR,
        env=worker_env(broker_url, smtp_sink, tmp_path),
    ):
        order = buy(client)
        wait_until(lambda: "succeeded" in kinds(order), timeout=30)

    events = list(OrderEvent.objects.filter(order=order))
    assert [e.kind for e in events] == [
        "committed",
        "published",
        "received",
        "started",
        "retried",
        "received",
        "started",
        "succeeded",
    ]
    assert len({e.task_id for e in events[1:]}) == 1  # one task, retried
    retried, started_again = events[4], events[6]
    wait = re.match(r"Retry in (\d+)s: SMTP", retried.detail)
    assert wait, retried.detail
    assert "Try again later" in retried.detail
    waited = (started_again.at - retried.at).total_seconds()
    assert waited >= int(wait.group(1)) - 0.2, f"started again after {waited:.2f} s"
    assert started_again.detail.startswith("attempt 2 on ")
    assert len(smtp_sink.messages) == 1
