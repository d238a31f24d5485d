"""The Celery wiring: shared's vetted defaults survive the Django layer, Django's settings win."""

import os
import re
import subprocess
import sys

from django_celery_beat.models import PeriodicTask
from pytest_django.fixtures import Settings

from config.celery_app import app as celery_app
from config.env import SETTINGS


def test_vetted_defaults_survive_the_django_layer() -> None:
    conf = celery_app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_default_queue == "shop"
    assert conf.task_ignore_result is True
    assert conf.task_time_limit > conf.task_soft_time_limit


def test_django_settings_override_the_defaults(settings: Settings) -> None:
    # shared's default is the Redis result backend; the shop keeps results in its database.
    assert settings.CELERY_RESULT_BACKEND == "django-db"
    assert celery_app.conf.result_backend == "django-db"
    assert celery_app.conf.beat_scheduler == settings.CELERY_BEAT_SCHEDULER


def test_the_broker_comes_from_the_shops_settings_object(settings: Settings) -> None:
    # Set once, in config.env.SETTINGS (the environment), not again in Django's settings.
    assert celery_app.conf.broker_url == SETTINGS.celery_broker_url
    assert not hasattr(settings, "CELERY_BROKER_URL")


def test_tasks_are_registered() -> None:
    celery_app.loader.import_default_modules()
    expected = {
        "shop.tasks.ping",
        "shop.tasks.send_order_confirmation",
        "shop.tasks.resend_pending_confirmations",
        "shop.tasks.send_daily_sales_summary",
    }
    assert expected <= set(celery_app.tasks)


def test_idempotent_confirmation_acks_late() -> None:
    task = celery_app.tasks["shop.tasks.send_order_confirmation"]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True


def test_django_fixup_closes_stale_connections_in_the_worker() -> None:
    # Celery.fixups is not in celery-types.
    assert "celery.fixups.django:fixup" in celery_app.fixups  # type: ignore[attr-defined]


def test_periodic_tasks_are_rows_in_the_database(db: None) -> None:
    tasks = dict(PeriodicTask.objects.values_list("task", "enabled"))
    assert tasks["shop.tasks.resend_pending_confirmations"] is True
    assert tasks["shop.tasks.send_daily_sales_summary"] is True


def test_the_celery_command_line_can_send_a_task(redis_url: str) -> None:
    """`celery -A config.celery_app call` sets Django up before the django-db backend loads."""
    command = [sys.executable, "-m", "celery", "-A", "config.celery_app", "call", "shop.ping"]
    environment = {**os.environ, "CELERY_BROKER_URL": redis_url}
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f-]{36}\n", result.stdout), result.stdout
