"""The shop's Celery tasks. They take ids and plain values and load what they need."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import mail_managers
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from shared.celery_app import IDEMPOTENT, MAX_RETRY_DELAY
from shop import emails
from shop.models import Order, OrderLine

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=False)
def ping(self: Task[Any, Any]) -> dict[str, str]:
    """Answer from the worker; /health/worker waits for this."""
    return {"app": "shop", "worker": str(self.request.hostname)}


@shared_task(
    **IDEMPOTENT,
    # SMTP errors (smtplib.SMTPException is an OSError) and refused connections
    # are retried after 5, 10, 20... seconds, capped at MAX_RETRY_DELAY.
    autoretry_for=(OSError,),
    retry_backoff=5,
    retry_backoff_max=MAX_RETRY_DELAY,
    retry_jitter=True,
    max_retries=8,
)
def send_order_confirmation(order_id: int) -> None:
    """Email the confirmation of order `order_id`, exactly once.

    The order row is locked while the email is sent, and `confirmation_sent_at`
    is set in the same transaction. A second run (a retry, a redelivery after a
    worker died, a message from the sweep) waits for the lock, then finds the
    email sent and does nothing. An SMTP error rolls the claim back, so the
    retry sends it.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            logger.warning("order %s does not exist, no confirmation to send", order_id)
            return
        if order.confirmation_sent_at is not None:
            logger.info("confirmation of order %s was already sent", order.number)
            return
        emails.order_confirmation(order).send()
        order.confirmation_sent_at = timezone.now()
        order.save(update_fields=["confirmation_sent_at"])
    logger.info("sent the confirmation of order %s", order.number)


@shared_task(ignore_result=False)
def resend_pending_confirmations() -> int:
    """Schedule the confirmation of recent orders whose email is still unsent.

    This catches orders whose task was never published (the broker was down at
    commit time) or gave up retrying. Orders younger than the grace period are
    left to their own task; orders older than a day are left to a person (the
    admin lists them). Sending twice is harmless: the task is idempotent.
    """
    now = timezone.now()
    grace = timedelta(minutes=settings.SHOP_CONFIRMATION_GRACE_MINUTES)
    pending = (
        Order.objects.filter(confirmation_sent_at__isnull=True)
        .filter(created__lt=now - grace, created__gte=now - timedelta(days=1))
        .exclude(status=Order.Status.CANCELLED)
        .values_list("pk", flat=True)
    )
    order_ids = list(pending)
    for order_id in order_ids:
        send_order_confirmation.delay(order_id)
    if order_ids:
        logger.warning("rescheduled %d unsent order confirmations", len(order_ids))
    return len(order_ids)


@shared_task(ignore_result=False)
def send_daily_sales_summary() -> dict[str, Any]:
    """Email the staff (MANAGERS) yesterday's orders, revenue and best sellers."""
    day = timezone.now().date() - timedelta(days=1)
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    orders = Order.objects.filter(created__gte=start, created__lt=start + timedelta(days=1))
    orders = orders.exclude(status=Order.Status.CANCELLED)
    totals = orders.aggregate(count=Count("pk"), revenue=Sum("total"))
    # SQLite sums decimals without their scale; money always has two places.
    revenue = (totals["revenue"] or Decimal(0)).quantize(Decimal("0.01"))
    top_products = list(
        OrderLine.objects.filter(order__in=orders)
        .values("product_name")
        .annotate(units=Sum("quantity"))
        .order_by("-units", "product_name")[:5]
    )
    subject, text = emails.daily_sales_summary(
        day=day, orders=totals["count"], revenue=revenue, top_products=top_products
    )
    mail_managers(subject, text)
    return {"day": day.isoformat(), "orders": totals["count"], "revenue": str(revenue)}
