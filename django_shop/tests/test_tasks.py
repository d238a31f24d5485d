"""Task bodies called as plain functions: no broker, no worker."""

import smtplib
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone
from pytest_django.fixtures import Settings

from shared.celery_app import MAX_RETRY_DELAY
from shop.models import Order
from shop.tasks import (
    resend_pending_confirmations,
    send_daily_sales_summary,
    send_order_confirmation,
)
from tests.factories import OrderFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db


def make_order(**fields: object) -> Order:
    order = OrderFactory.create(total=Decimal("25.50"), **fields)
    OrderLineFactory.create(order=order, product=ProductFactory.create(name="Tamper"), quantity=1)
    return order


def test_confirmation_is_sent_once_and_a_second_run_sends_nothing() -> None:
    order = make_order()

    send_order_confirmation(order.pk)
    send_order_confirmation(order.pk)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [order.customer_email]
    assert order.number in message.subject
    assert "25.50" in message.body
    assert "Tamper" in message.body
    html, mimetype = message.alternatives[0]  # type: ignore[attr-defined]
    assert mimetype == "text/html"
    assert order.number in html
    order.refresh_from_db()
    assert order.confirmation_sent_at is not None


def test_smtp_error_leaves_the_order_unclaimed_for_the_retry() -> None:
    order = make_order()
    with (
        mock.patch("shop.emails.EmailMultiAlternatives.send", side_effect=smtplib.SMTPException),
        pytest.raises(smtplib.SMTPException),
    ):
        send_order_confirmation(order.pk)

    order.refresh_from_db()
    assert order.confirmation_sent_at is None
    send_order_confirmation(order.pk)
    assert len(mail.outbox) == 1


def test_smtp_and_connection_errors_are_retried_until_the_email_goes_out() -> None:
    order = make_order()
    failures = iter([smtplib.SMTPServerDisconnected("gone"), ConnectionRefusedError()])
    real_send = EmailMultiAlternatives.send

    def flaky_send(message: EmailMultiAlternatives, fail_silently: bool = False) -> int:
        if (failure := next(failures, None)) is not None:
            raise failure
        return real_send(message, fail_silently)

    with mock.patch("shop.emails.EmailMultiAlternatives.send", flaky_send):
        result = send_order_confirmation.apply(args=[order.pk])  # retries run at once here

    assert result.successful()
    assert len(mail.outbox) == 1
    order.refresh_from_db()
    assert order.confirmation_sent_at is not None
    assert order.confirmation_claimed_until is None


def test_no_retry_waits_longer_than_the_visibility_timeout_allows() -> None:
    # A delayed retry is held unacknowledged by a worker until it runs; see
    # shared.celery_app.visibility_timeout.
    assert send_order_confirmation.retry_backoff_max <= MAX_RETRY_DELAY


def test_a_missing_order_sends_nothing() -> None:
    send_order_confirmation(987654)
    assert mail.outbox == []


def test_the_sweep_reschedules_only_stale_unsent_orders() -> None:
    now = timezone.now()
    stale = make_order()
    fresh = make_order()
    sent = make_order(confirmation_sent_at=now)
    cancelled = make_order(status=Order.Status.CANCELLED)
    ancient = make_order()
    Order.objects.filter(pk__in=[stale.pk, sent.pk, cancelled.pk]).update(
        created=now - timedelta(minutes=10)
    )
    Order.objects.filter(pk=ancient.pk).update(created=now - timedelta(days=2))

    with mock.patch.object(send_order_confirmation, "delay") as delay:
        assert resend_pending_confirmations() == 1

    delay.assert_called_once_with(stale.pk)
    assert fresh.pk not in [call.args[0] for call in delay.call_args_list]


def test_the_sweep_waits_the_configured_grace(settings: Settings) -> None:
    settings.SHOP_CONFIRMATION_GRACE = timedelta(seconds=30)
    waited = make_order()
    make_order()  # placed just now: still its own task's
    Order.objects.filter(pk=waited.pk).update(created=timezone.now() - timedelta(minutes=1))

    with mock.patch.object(send_order_confirmation, "delay") as delay:
        assert resend_pending_confirmations() == 1

    delay.assert_called_once_with(waited.pk)


def test_daily_sales_summary_reports_yesterday_to_the_staff(settings: Settings) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    counted = make_order()
    cancelled = make_order(status=Order.Status.CANCELLED)
    make_order()  # placed today: in tomorrow's summary
    Order.objects.filter(pk__in=[counted.pk, cancelled.pk]).update(created=yesterday)

    summary = send_daily_sales_summary()

    assert summary == {"day": yesterday.date().isoformat(), "orders": 1, "revenue": "25.50"}
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [email for _, email in settings.MANAGERS]
    assert "Tamper: 1" in mail.outbox[0].body


def test_a_confirmation_another_run_is_sending_is_looked_at_again_when_its_lease_ends() -> None:
    order = make_order()
    lease_ends = timezone.now() + timedelta(seconds=30)
    Order.objects.filter(pk=order.pk).update(confirmation_claimed_until=lease_ends)

    with (
        mock.patch.object(send_order_confirmation, "retry", side_effect=Retry) as retry,
        pytest.raises(Retry),
    ):
        send_order_confirmation(order.pk)

    assert mail.outbox == []
    assert 29 <= retry.call_args.kwargs["countdown"] <= 31


def test_a_lease_left_by_a_run_that_died_is_taken_over_once_it_ends() -> None:
    order = make_order()
    Order.objects.filter(pk=order.pk).update(
        confirmation_claimed_until=timezone.now() - timedelta(seconds=1)
    )

    send_order_confirmation(order.pk)

    assert len(mail.outbox) == 1
