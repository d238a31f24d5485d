"""The shop's `make doctor` checks: shared's Celery checks, and Django's own two.

Run by `django_shop/bin/doctor` (`python -m shared.doctor django-shop shop.doctor`)
with the environment of the shop's services, so DJANGO_SETTINGS_MODULE is
theirs. The checkout check writes nothing: it runs inside a transaction that
it rolls back, and every publish is intercepted before it reaches the broker.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from functools import partial
from unittest import mock

import django
from celery import Celery

from config.celery_app import app as celery_app
from shared.doctor import CheckFailedError, Doctor, celery_checks

django.setup()

from django.conf import settings  # noqa: E402 (Django is set up first)
from django.db import connections, transaction  # noqa: E402
from django.test import TestCase  # noqa: E402

#: The names the shop sends its tasks by, beat's schedule (in the database) aside.
TASKS = {
    "shop.tasks.ping",
    "shop.tasks.send_order_confirmation",
    "shop.tasks.resend_pending_confirmations",
    "shop.tasks.send_daily_sales_summary",
    "shared.diagnose_failure",
}
#: The stack's service of the worker, and what it runs (APP/bin/worker).
WORKER = ("shop-worker", "celery -A config.celery_app worker -Q shop")


def expected_tasks() -> set[str]:
    """TASKS, and the task names of beat's enabled periodic tasks (django-celery-beat keeps
    them in the database, where an admin may have mistyped one).
    """
    from django_celery_beat.models import PeriodicTask

    try:
        return TASKS | set(PeriodicTask.objects.filter(enabled=True).values_list("task", flat=True))
    finally:
        connections.close_all()  # each check runs in its own thread, with its own connection


def check_settings_reach_celery(app: Celery = celery_app) -> str:
    """Is every CELERY_* Django setting the Celery app's? `config_from_object(...,
    namespace="CELERY")` is what carries them; without it the app runs on
    shared's defaults alone (results in Redis, not in the shop's database).
    """
    names = [name for name in dir(settings) if name.startswith("CELERY_")]
    differ = [
        name
        for name in names
        if app.conf.get(name.removeprefix("CELERY_").lower()) != getattr(settings, name)
    ]
    if differ:
        raise CheckFailedError(f"not in the Celery app's configuration: {', '.join(differ)}")
    return f"{len(names)} CELERY_* settings of {settings.SETTINGS_MODULE} reach the Celery app"


class _RollBackError(Exception):
    """Raised to roll a checkout back."""


def check_checkout_publishes_on_commit() -> str:
    """A checkout publishes its confirmation after its transaction commits, and a rolled-back
    one publishes nothing.

    Publishing is intercepted (`send_task`, where every `.delay()` ends), and the
    whole check runs in a transaction that is rolled back at the end: the commit
    is the one Django's test case simulates (`captureOnCommitCallbacks` runs the
    callbacks the commit would run), so the shop's data is left as it was.
    """
    from shop.checkout import place_order
    from shop.models import Product

    sent: list[str] = []

    def publish(name: str, *args: object, **kwargs: object) -> mock.Mock:
        sent.append(name)
        return mock.Mock()

    with (
        mock.patch.object(celery_app, "send_task", side_effect=publish),
        # Not orders anyone placed: no "placed order" lines in the shop's log.
        mock.patch.object(logging.getLogger("shop.checkout"), "disabled", True),
        contextlib.closing(connections["default"]),
        transaction.atomic(),
    ):
        slug = f"doctor-{secrets.token_hex(4)}"
        product = Product.objects.create(name=slug, slug=slug, price="1.00", stock=2)
        order = partial(
            place_order,
            quantities={product.pk: 1},
            customer_name="Doctor",
            customer_email="doctor@example.invalid",
        )
        with (
            TestCase.captureOnCommitCallbacks(execute=True),
            contextlib.suppress(_RollBackError),
            transaction.atomic(),
        ):
            order()
            raise _RollBackError
        after_rollback = list(sent)
        with TestCase.captureOnCommitCallbacks(execute=True):
            order()
            before_commit = list(sent)
        after_commit = list(sent)
        transaction.set_rollback(True)
    if after_rollback:
        raise CheckFailedError(f"a rolled-back checkout published {after_rollback}")
    if before_commit:
        raise CheckFailedError(f"a checkout published {before_commit} before its commit")
    if after_commit != ["shop.tasks.send_order_confirmation"]:
        raise CheckFailedError(f"a committed checkout published {after_commit or 'nothing'}")
    return "a rolled-back checkout publishes nothing, a committed one its confirmation, once"


def checks(doctor: Doctor) -> None:
    celery_checks(
        doctor,
        celery_app,
        expected_tasks=expected_tasks,
        worker_service=WORKER[0],
        worker_command=WORKER[1],
    )
    doctor.check(
        "django settings",
        check_settings_reach_celery,
        fix='load them in config/celery_app.py: app.config_from_object("django.conf:settings", '
        'namespace="CELERY")',
    )
    doctor.check(
        "publish on commit",
        check_checkout_publishes_on_commit,
        fix="publish from transaction.on_commit(...) in shop/checkout.py, never inside the "
        "transaction",
    )
