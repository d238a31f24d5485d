"""The shop on the running stack: an order's confirmation, sent on commit only, and a failure
seen where it should be. `make check-integration APP=shop`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from clients import Shopper, order_number
from conftest import Mailbox, check_failure_propagates, wait_for

from shared.settings import SharedSettings


@pytest.fixture
def shopper(config: SharedSettings) -> Iterator[Shopper]:
    with Shopper(config.shop_url) as customer:
        yield customer


def test_an_order_placed_on_the_site_is_confirmed_by_the_worker(
    shopper: Shopper, mailbox: Mailbox, address: str, config: SharedSettings
) -> None:
    """The real path: the site, the commit, Redis, the worker, the database, SMTP."""
    checkout = next(
        answer
        for product in shopper.products()
        if (answer := shopper.buy(product, email=address)).status_code == 302
    )
    number = order_number(checkout)

    message = mailbox.wait_for(address)

    assert message["Subject"] == f"Your order {number}"
    # The worker read the order and its lines from the database...
    assert number in message["Text"]
    # ...and sent it with the Django settings of the shop (DEFAULT_FROM_EMAIL).
    assert message["From"]["Address"] in config.smtp_sender
    # It recorded the email as sent: the order's page says so.
    order_page = checkout.headers["location"]
    wait_for(
        "the order page shows the email sent",
        lambda: f"Confirmation email sent to {address}" in shopper.client.get(order_page).text,
    )


ROLLED_BACK_THEN_COMMITTED = """
import json
from celery.signals import after_task_publish
from django.db import transaction
from shop.checkout import place_order
from shop.models import Order, Product

published = []  # what this process sends to the broker, as it is sent
after_task_publish.connect(lambda sender, **_: published.append(sender), weak=False)

product = Product.objects.filter(active=True, stock__gte=2).order_by("-stock").first()
order = dict(quantities={{product.pk: 1}}, customer_name="Integration")


class RollBack(Exception):
    pass


try:
    with transaction.atomic():
        rolled_back = place_order(**order, customer_email={rolled_back!r})
        raise RollBack
except RollBack:
    pass
published_by_rollback = list(published)
committed = place_order(**order, customer_email={committed!r})
print(json.dumps({{
    "rolled_back": rolled_back.number,
    "committed": committed.number,
    "kept": Order.objects.filter(number=rolled_back.number).exists(),
    "published_by_rollback": published_by_rollback,
    "published": published,
}}))
"""


def test_an_order_rolled_back_after_its_checkout_sends_nothing(
    in_app: Callable[[str, str], str], mailbox: Mailbox, address: str
) -> None:
    """place_order scheduled the email in a transaction that then rolled back: nothing is sent.

    Nothing is published for it (the task would find no order, and send nothing
    either: what is checked is that no message ever leaves). The committed order
    placed after it is the witness: its confirmation is published, and sent.
    """
    rolled_back, committed = address, address.replace("integration-", "committed-")

    orders: dict[str, Any] = json.loads(
        in_app(
            "shop", ROLLED_BACK_THEN_COMMITTED.format(rolled_back=rolled_back, committed=committed)
        )
    )

    assert orders["kept"] is False
    assert orders["published_by_rollback"] == []
    assert orders["published"] == ["shop.tasks.send_order_confirmation"]
    assert orders["committed"] in mailbox.wait_for(committed)["Subject"]
    assert mailbox.search(rolled_back) == []


def test_a_failing_task_is_a_failure_in_the_shop_and_in_flower(
    diagnose: Callable[[str, str], dict[str, Any]], flower: httpx2.Client
) -> None:
    check_failure_propagates("shop", diagnose, flower)
