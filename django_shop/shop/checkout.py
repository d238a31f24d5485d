"""Placing an order: one transaction, stock locked, the confirmation email after the commit."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial

from django.db import transaction
from kombu.exceptions import OperationalError

from shop.models import Order, OrderLine, Product
from shop.tasks import send_order_confirmation
from shop.timeline import TIMELINE

logger = logging.getLogger(__name__)


class CheckoutError(Exception):
    """The order cannot be placed as asked; the message is for the customer."""


def place_order(*, quantities: Mapping[int, int], customer_name: str, customer_email: str) -> Order:
    """Create the order for `quantities` ({product id: quantity}) and take its stock.

    Raises CheckoutError, with nothing written, when the cart is empty or a
    product is no longer for sale or short of stock.
    """
    if not quantities:
        raise CheckoutError("Your cart is empty.")
    with transaction.atomic():
        # Lock the rows in a fixed order, so that two checkouts of the same
        # products wait for each other instead of deadlocking.
        products = list(
            Product.objects.select_for_update().filter(pk__in=quantities).order_by("pk")
        )
        for product in products:
            wanted = quantities[product.pk]
            if not product.active:
                raise CheckoutError(f"{product.name} is no longer for sale.")
            if product.stock < wanted:
                raise CheckoutError(f"Only {product.stock} of {product.name} left in stock.")
        if len(products) != len(quantities):
            raise CheckoutError("An item in your cart is no longer for sale.")

        order = Order.objects.create(
            customer_name=customer_name,
            customer_email=customer_email,
            total=sum(product.price * quantities[product.pk] for product in products),
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=product,
                product_name=product.name,
                unit_price=product.price,
                quantity=quantities[product.pk],
            )
            for product in products
        )
        for product in products:
            product.stock -= quantities[product.pk]
        Product.objects.bulk_update(products, ["stock"])

        # The worker reads the order by id, so the task may only be published
        # once the order is committed; a rollback discards this callback.
        transaction.on_commit(partial(schedule_confirmation, order.pk))
    logger.info("placed order %s", order.number)
    return order


def schedule_confirmation(order_id: int) -> None:
    """Publish the confirmation task; a broker outage must not fail the checkout.

    This is why checkout does not use `send_order_confirmation.delay_on_commit`:
    its callback would raise after the commit, and the customer would see an
    error for an order that was placed. The order is committed either way, and
    `resend_pending_confirmations` sends what was never published.
    """
    TIMELINE.committed(order_id, "the order and its lines are in the database")
    try:
        send_order_confirmation.delay(order_id)
    except OperationalError:
        logger.exception(
            "broker unavailable: confirmation of order %s not scheduled, the sweep will send it",
            order_id,
        )
