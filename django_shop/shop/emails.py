"""The shop's emails, rendered from templates in shop/templates/shop/email/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from shop.models import Order


def order_confirmation(order: Order) -> EmailMultiAlternatives:
    """The confirmation of `order`, as text with an HTML alternative.

    Its Message-ID is the same every time it is sent: if a copy is ever sent
    twice (SMTP accepted it, then the worker died before recording that), mail
    clients and tests see one message.
    """
    context = {"order": order, "lines": list(order.lines.all())}
    message = EmailMultiAlternatives(
        subject=f"Your order {order.number}",
        body=render_to_string("shop/email/order_confirmation.txt", context),
        to=[order.customer_email],
        headers={"Message-ID": confirmation_message_id(order)},
    )
    message.attach_alternative(
        render_to_string("shop/email/order_confirmation.html", context), "text/html"
    )
    return message


def confirmation_message_id(order: Order) -> str:
    """`<order-SO-7K2M9QXA.confirmation@example.com>`, in the sender's domain."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<order-{order.number}.confirmation@{domain}>"


def daily_sales_summary(
    *, day: date, orders: int, revenue: Decimal, top_products: Sequence[Mapping[str, Any]]
) -> tuple[str, str]:
    """Subject and text of the staff's daily sales summary."""
    context = {"day": day, "orders": orders, "revenue": revenue, "top_products": top_products}
    subject = f"Sales on {day:%Y-%m-%d}: {orders} orders, {revenue}"
    return subject, render_to_string("shop/email/daily_sales_summary.txt", context)
