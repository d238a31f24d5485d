"""The shop's doctor checks: the checkout publishes on commit only, and Django's settings reach
Celery. Each is run against the shop as it is, then against a shop broken the way it checks for.
"""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import pytest
import redis
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery_app import app as celery_app
from config.env import SETTINGS
from shared.celery_app import create_celery_app
from shared.doctor import CheckFailedError, check_tasks_registered
from shop import doctor
from shop.models import Order, Product
from tests.conftest import UseBroker

# The check closes its connection, as it does in the thread it runs in: no test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def publish_now(callback: Callable[[], object], **kwargs: object) -> None:
    """transaction.on_commit as a mistake would have it: the callback at once."""
    callback()


def test_the_checkout_publishes_once_after_its_commit_and_never_after_a_rollback(
    redis_url: str, use_broker: UseBroker
) -> None:
    use_broker(f"{redis_url}/5")
    before = Product.objects.count(), Order.objects.count()

    detail = doctor.check_checkout_publishes_on_commit()

    assert detail == (
        "a rolled-back checkout publishes nothing, a committed one its confirmation, once"
    )
    assert (Product.objects.count(), Order.objects.count()) == before  # everything rolled back
    assert redis.Redis.from_url(f"{redis_url}/5").llen("shop") == 0  # nothing reached the broker


def test_a_checkout_that_publishes_inside_its_transaction_fails() -> None:
    with (
        mock.patch("shop.checkout.transaction.on_commit", publish_now),
        pytest.raises(CheckFailedError, match="a rolled-back checkout published"),
    ):
        doctor.check_checkout_publishes_on_commit()


def test_a_checkout_that_publishes_nothing_fails() -> None:
    with (
        mock.patch("shop.checkout.schedule_confirmation"),
        pytest.raises(CheckFailedError, match="a committed checkout published nothing"),
    ):
        doctor.check_checkout_publishes_on_commit()


def test_every_celery_setting_of_django_reaches_the_celery_app() -> None:
    assert doctor.check_settings_reach_celery().startswith("3 CELERY_* settings of ")


def test_a_celery_app_that_does_not_load_djangos_settings_is_named() -> None:
    """The shop's app as it would be without `config_from_object("django.conf:settings", ...)`."""
    unconfigured = create_celery_app("shop-unconfigured", default_queue="shop", settings=SETTINGS)
    # A new Celery app makes itself the current one: give the shop's back to the
    # tests after this one (`@shared_task` proxies and `current_app` follow it).
    celery_app.set_current()

    with pytest.raises(CheckFailedError, match="CELERY_RESULT_BACKEND"):
        doctor.check_settings_reach_celery(unconfigured)


def test_a_periodic_task_of_a_name_no_task_has_is_named() -> None:
    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.create(name="typo", task="shop.tasks.sweeep", interval=every_minute)

    assert "shop.tasks.resend_pending_confirmations" in doctor.expected_tasks()
    with pytest.raises(CheckFailedError, match=r"not registered: shop\.tasks\.sweeep"):
        check_tasks_registered(celery_app, doctor.expected_tasks)
