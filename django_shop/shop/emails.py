"""The shop's emails, rendered from templates in shop/templates/shop/email/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from shop.models import Order


def order_confirmation(order: Order) -> EmailMultiAlternatives:
    """The confirmation of `order`, as text with an HTML alternative."""
    context = {"order": order, "lines": list(order.lines.all())}
    message = EmailMultiAlternatives(
        subject=f"Your order {order.number}",
        body=render_to_string("shop/email/order_confirmation.txt", context),
        to=[order.customer_email],
    )
    message.attach_alternative(
        render_to_string("shop/email/order_confirmation.html", context), "text/html"
    )
    return message


def daily_sales_summary(
    *, day: date, orders: int, revenue: Decimal, top_products: Sequence[Mapping[str, Any]]
) -> tuple[str, str]:
    """Subject and text of the staff's daily sales summary."""
    context = {"day": day, "orders": orders, "revenue": revenue, "top_products": top_products}
    subject = f"Sales on {day:%Y-%m-%d}: {orders} orders, {revenue}"
    return subject, render_to_string("shop/email/daily_sales_summary.txt", context)
