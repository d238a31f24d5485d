"""The shop's Celery tasks. They take ids and plain values and load what they need."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from celery import Task, current_app, shared_task
from django.conf import settings
from django.core.mail import mail_managers
from django.db import OperationalError
from django.db.models import Count, Q, Sum
from django.utils import timezone

from shared.celery_app import IDEMPOTENT, MAX_RETRY_DELAY
from shop import emails
from shop.models import Order, OrderLine

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=False)
def ping(self: Task[Any, Any]) -> dict[str, str]:
    """Answer from the worker; /health/worker waits for this."""
    return {"app": "shop", "worker": str(self.request.hostname)}


class ConfirmationBusyError(Exception):
    """Another run holds the lease on this confirmation, for `seconds_left` more seconds."""

    def __init__(self, seconds_left: float) -> None:
        super().__init__(f"another run is sending it; its lease ends in {seconds_left:.0f} s")
        self.seconds_left = seconds_left


@shared_task(
    bind=True,
    **IDEMPOTENT,
    # SMTP errors (smtplib.SMTPException is an OSError), refused connections and
    # a database that is briefly unavailable or locked are retried after 5, 10,
    # 20... seconds, capped at MAX_RETRY_DELAY.
    autoretry_for=(OSError, OperationalError),
    retry_backoff=5,
    retry_backoff_max=MAX_RETRY_DELAY,
    retry_jitter=True,
    max_retries=8,
)
def send_order_confirmation(self: Task[Any, Any], order_id: int) -> None:
    """Email the confirmation of order `order_id`, exactly once.

    Three short steps, and no database lock or transaction is held while SMTP
    talks (a slow or hung mail server must not stall checkouts):

    1. claim: one conditional UPDATE takes a lease on the order, unless the email
       was sent or another run holds an unexpired lease;
    2. send, with a Message-ID derived from the order number;
    3. mark the order sent, or, if SMTP failed, give the lease back for the retry.

    A second run (a retry, a redelivery, a message from the sweep) finds the
    email sent and does nothing, or finds the lease held and looks again when
    it ends: if the run that holds it died mid-send, this one sends. If it dies after SMTP
    accepted the email but before step 3, that later run sends it again: no
    system closes that window, and the fixed Message-ID makes the two copies
    one message to mail clients (docs in django_shop/README.md).
    """
    try:
        lease = claim_confirmation(order_id)
    except ConfirmationBusyError as busy:
        raise self.retry(countdown=min(busy.seconds_left + 1, MAX_RETRY_DELAY)) from busy
    if lease is None:
        return
    order = Order.objects.get(pk=order_id)
    try:
        emails.order_confirmation(order).send()
    except BaseException:
        Order.objects.filter(pk=order_id, confirmation_claimed_until=lease).update(
            confirmation_claimed_until=None
        )
        raise
    Order.objects.filter(pk=order_id).update(
        confirmation_sent_at=timezone.now(), confirmation_claimed_until=None
    )
    logger.info("sent the confirmation of order %s", order.number)


def confirmation_lease() -> timedelta:
    """How long a run may take to send: its hard time limit, plus a margin.

    No run can still be sending after its lease: the worker kills it first.
    """
    return timedelta(seconds=current_app.conf.task_time_limit + 30)


def claim_confirmation(order_id: int) -> datetime | None:
    """Take the lease on sending `order_id`'s confirmation and return its expiry.

    None when there is nothing to send (sent already, or no such order);
    ConfirmationBusyError when another run holds an unexpired lease.

    One UPDATE with the conditions in its WHERE clause: the database decides
    between concurrent runs, on SQLite and PostgreSQL alike, with no lock held
    after it returns.
    """
    now = timezone.now()
    lease = now + confirmation_lease()
    unclaimed = Q(confirmation_claimed_until__isnull=True) | Q(confirmation_claimed_until__lt=now)
    claimed = (
        Order.objects.filter(pk=order_id, confirmation_sent_at__isnull=True)
        .filter(unclaimed)
        .update(confirmation_claimed_until=lease)
    )
    if claimed:
        return lease
    state = Order.objects.filter(pk=order_id).values_list(
        "confirmation_sent_at", "confirmation_claimed_until"
    )
    if not state:
        logger.warning("order %s does not exist, no confirmation to send", order_id)
        return None
    sent_at, claimed_until = state[0]
    if sent_at is not None:
        logger.info("confirmation of order %s was already sent", order_id)
        return None
    # The UPDATE found it unsent, so another run's lease was unexpired then.
    lease_end = claimed_until or now
    raise ConfirmationBusyError(max(0.0, (lease_end - now).total_seconds()))


@shared_task(ignore_result=False)
def resend_pending_confirmations() -> int:
    """Schedule the confirmation of recent orders whose email is still unsent.

    This catches orders whose task was never published (the broker was down at
    commit time) or gave up retrying. Orders younger than the grace period are
    left to their own task; orders older than a day are left to a person (the
    admin lists them). Sending twice is harmless: the task is idempotent.
    """
    now = timezone.now()
    grace: timedelta = settings.SHOP_CONFIRMATION_GRACE
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
