import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from celery import Task
from kombu.exceptions import EncodeError

from shared.celery_app import (
    IDEMPOTENT,
    MAX_RETRY_DELAY,
    RedeliveryConfigError,
    celery_config,
    check_retry_delays,
    create_celery_app,
)
from shared.settings import SharedSettings
from shared.testing import free_port


def test_config_is_json_only() -> None:
    config = celery_config(SharedSettings(), default_queue="q")

    assert config["task_serializer"] == config["result_serializer"] == "json"
    assert config["accept_content"] == config["result_accept_content"] == ["json"]


def test_visibility_timeout_outlasts_the_longest_retry_delay_plus_the_hard_time_limit() -> None:
    settings = SharedSettings(celery_task_soft_time_limit=50, celery_task_time_limit=900)

    config = celery_config(settings, default_queue="q")

    assert config["task_soft_time_limit"] < config["task_time_limit"] == 900
    assert config["broker_transport_options"]["visibility_timeout"] > MAX_RETRY_DELAY + 900


def test_factory_routes_to_the_default_queue_with_the_vetted_defaults() -> None:
    app = create_celery_app("example", default_queue="example-q")

    assert app.main == "example"
    assert app.conf.task_default_queue == "example-q"
    assert app.conf.worker_send_task_events is True
    assert app.conf.task_send_sent_event is False  # Celery's default: a publish is one command
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.task_ignore_result is True


def test_the_task_sent_event_is_a_setting() -> None:
    settings = SharedSettings(celery_task_send_sent_event=True)

    app = create_celery_app("example", default_queue="q", settings=settings)

    assert app.conf.task_send_sent_event


def test_factory_uses_the_given_settings_object() -> None:
    settings = SharedSettings(celery_broker_url="redis://elsewhere:6379/3")

    app = create_celery_app("example", default_queue="q", settings=settings)

    assert app.conf.broker_url == "redis://elsewhere:6379/3"


def test_explicit_configuration_overrides_the_defaults() -> None:
    app = create_celery_app("example", default_queue="q")

    app.conf.update(task_time_limit=5, task_default_queue="other")

    assert app.conf.task_time_limit == 5
    assert app.conf.task_default_queue == "other"
    assert app.conf.task_serializer == "json"


def test_factory_applies_the_task_class() -> None:
    class Marked(Task[Any, Any]):
        marked = True

    app = create_celery_app("example", default_queue="q", task_cls=Marked)

    @app.task
    def noop() -> None:
        return None

    assert isinstance(noop, Marked)


def test_idempotent_options_ack_late_and_reject_on_worker_loss() -> None:
    assert IDEMPOTENT == {"acks_late": True, "reject_on_worker_lost": True}


class FrameworkSettings:
    """Stands in for a framework's settings module, as Django's is read."""

    CELERY_TASK_TIME_LIMIT = 42
    CELERY_RESULT_BACKEND = "django-db"
    CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
    UNRELATED = "ignored"


def test_a_namespaced_config_source_overrides_the_vetted_values() -> None:
    app = create_celery_app("example", default_queue="q")

    app.config_from_object(FrameworkSettings, namespace="CELERY")

    assert app.conf.task_time_limit == 42
    assert app.conf.result_backend == "django-db"
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert app.conf.task_serializer == "json"
    assert app.conf.task_default_queue == "q"


def test_a_plain_config_source_overrides_the_vetted_values() -> None:
    class Plain:
        task_time_limit = 7

    app = create_celery_app("example", default_queue="q")
    app.config_from_object(Plain)

    assert app.conf.task_time_limit == 7
    assert app.conf.accept_content == ["json"]


def test_a_mapping_config_source_overrides_the_vetted_values() -> None:
    """As Flask's app.config["CELERY"] is loaded."""
    app = create_celery_app("example", default_queue="q")
    app.config_from_object({"task_time_limit": 9, "beat_schedule": {"x": {"task": "t"}}})

    assert app.conf.task_time_limit == 9
    assert app.conf.beat_schedule == {"x": {"task": "t"}}
    assert app.conf.task_soft_time_limit == SharedSettings().celery_task_soft_time_limit


def test_the_vetted_configuration_passes_the_retry_delay_check() -> None:
    app = create_celery_app("example", default_queue="q")

    @app.task(autoretry_for=(OSError,), retry_backoff=True, retry_backoff_max=MAX_RETRY_DELAY)
    def longest_retry() -> None: ...

    check_retry_delays(app)


def test_a_retry_that_outlives_the_visibility_timeout_is_refused() -> None:
    settings = SharedSettings(celery_task_soft_time_limit=50, celery_task_time_limit=60)
    app = create_celery_app("example", default_queue="q", settings=settings)
    visibility = app.conf.broker_transport_options["visibility_timeout"]

    @app.task(name="example.slow_retry", autoretry_for=(OSError,), retry_backoff=True)
    def slow_retry() -> None: ...

    # Set on the task class by @task(retry_backoff_max=...); celery-types does not declare it.
    slow_retry.retry_backoff_max = visibility - 60  # type: ignore[attr-defined]

    with pytest.raises(RedeliveryConfigError, match=r"example\.slow_retry"):
        check_retry_delays(app)


WORKER_WITH_A_SLOW_RETRY = """
from shared.celery_app import create_celery_app

app = create_celery_app("slow_retry", default_queue="slow_retry")


@app.task(autoretry_for=(OSError,), retry_backoff=True, retry_backoff_max=100_000)
def slow_retry() -> None: ...
"""


def test_a_worker_whose_retry_outlives_the_visibility_timeout_refuses_to_start(
    tmp_path: Path,
) -> None:
    """The real command: Celery ignores an Exception raised in worker_init, not this."""
    (tmp_path / "slow_retry_app.py").write_text(WORKER_WITH_A_SLOW_RETRY)
    command = [sys.executable, "-m", "celery", "-A", "slow_retry_app", "worker", "--pool", "solo"]
    # A broker nothing listens on: a worker that wrongly starts retries it, and times out here.
    env = {**os.environ, "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    worker = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert worker.returncode != 0
    assert "refusing to start the worker: slow_retry_app.slow_retry may retry" in worker.stderr


def test_an_argument_json_cannot_carry_fails_the_publish_in_the_caller() -> None:
    # An ORM object, a request, a datetime in a dict... is refused before it reaches
    # the broker, where the caller sees it: pass ids and plain values instead.
    app = create_celery_app("example", default_queue="q", settings=SharedSettings())
    app.conf.update(broker_url="memory://")

    @app.task
    def takes(value: object) -> None: ...

    with pytest.raises(EncodeError, match="not JSON serializable"):
        takes.delay(object())
