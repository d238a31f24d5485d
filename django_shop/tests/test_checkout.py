"""Checkout: one transaction, stock under lock, the task scheduled only on commit."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING
from unittest import mock

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks

from shared.testing import free_port
from shop.checkout import CheckoutError, place_order
from shop.models import Order, Product
from shop.tasks import send_order_confirmation
from tests.conftest import UseBroker
from tests.factories import ProductFactory

if TYPE_CHECKING:
    # What the test client returns, in django-stubs only.
    from django.test.client import _MonkeyPatchedWSGIResponse

pytestmark = pytest.mark.django_db


@pytest.fixture
def products() -> list[Product]:
    return [
        ProductFactory.create(name="Kettle", price=Decimal("39.00"), stock=5),
        ProductFactory.create(name="Filters", price=Decimal("5.00"), stock=1),
    ]


def fill_cart(client: Client, *items: tuple[Product, int]) -> None:
    for product, quantity in items:
        client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": quantity})


def check_out(client: Client, **data: str) -> _MonkeyPatchedWSGIResponse:
    """Post the checkout form, valid unless `data` says otherwise."""
    form = {"name": "Ada Lovelace", "email": "ada@example.com", **data}
    return client.post(reverse("shop:checkout"), form)


def test_checkout_places_the_order_and_schedules_the_email_on_commit(
    client: Client,
    products: list[Product],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    kettle, filters = products
    fill_cart(client, (kettle, 2), (filters, 1))

    with (
        mock.patch.object(send_order_confirmation, "delay") as delay,
        django_capture_on_commit_callbacks() as callbacks,
    ):
        response = check_out(client)

    # Registered inside the transaction, not published by it.
    assert len(callbacks) == 1
    delay.assert_not_called()
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == order.get_absolute_url()
    assert order.total == Decimal("83.00")
    assert [(line.product_name, line.quantity) for line in order.lines.all()] == [
        ("Kettle", 2),
        ("Filters", 1),
    ]
    kettle.refresh_from_db()
    filters.refresh_from_db()
    assert (kettle.stock, filters.stock) == (3, 0)

    with mock.patch.object(send_order_confirmation, "delay") as delay:
        callbacks[0]()
    delay.assert_called_once_with(order.pk)


def test_a_rolled_back_checkout_schedules_nothing(
    products: list[Product], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    def order_then_fail() -> None:
        with transaction.atomic():
            place_order(
                quantities={products[0].pk: 1}, customer_name="Ada", customer_email="a@example.com"
            )
            raise RuntimeError("something after the order failed")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        order_then_fail()

    assert callbacks == []
    assert not Order.objects.exists()
    products[0].refresh_from_db()
    assert products[0].stock == 5


def test_out_of_stock_is_a_form_error_and_changes_nothing(
    client: Client,
    products: list[Product],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    kettle, filters = products
    fill_cart(client, (kettle, 1), (filters, 2))

    with django_capture_on_commit_callbacks() as callbacks:
        response = check_out(client)

    assert response.status_code == 400
    assert "Only 1 of Filters left in stock." in response.content.decode()
    assert callbacks == []
    assert not Order.objects.exists()
    kettle.refresh_from_db()
    assert kettle.stock == 5


def test_invalid_form_shows_errors(client: Client, products: list[Product]) -> None:
    fill_cart(client, (products[0], 1))

    response = check_out(client, name="", email="not-an-email")

    assert response.status_code == 400
    page = response.content.decode()
    assert "This field is required." in page
    assert "Enter a valid email address." in page
    assert not Order.objects.exists()


def test_an_empty_cart_cannot_be_checked_out(client: Client) -> None:
    response = check_out(client)
    assert response.status_code == 400
    assert "Your cart is empty." in response.content.decode()


def test_an_inactive_product_cannot_be_bought(products: list[Product]) -> None:
    Product.objects.filter(pk=products[0].pk).update(active=False)
    with pytest.raises(CheckoutError, match="no longer for sale"):
        place_order(quantities={products[0].pk: 1}, customer_name="A", customer_email="a@b.co")


def test_broker_down_at_commit_still_places_the_order(
    client: Client,
    products: list[Product],
    use_broker: UseBroker,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    fill_cart(client, (products[0], 1))

    with (
        caplog.at_level(logging.ERROR, logger="shop.checkout"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = check_out(client)

    order = Order.objects.get()
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
    assert order.confirmation_sent_at is None
    assert f"confirmation of order {order.pk} not scheduled" in caplog.text
