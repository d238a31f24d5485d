"""Every broker operation on a request's path is bounded in time.

A web request that publishes a task, or checks health, must answer within a
few seconds whatever Redis does: refuse connections (it is down), or accept
them and never answer (paused, failing over, a host gone without a reset).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from celery import Celery
from kombu.exceptions import OperationalError

from shared.celery_app import create_celery_app
from shared.health import check_broker
from shared.settings import SharedSettings
from shared.testing import free_port

#: What "within a few seconds" means for a request, with room for a slow CI machine.
REQUEST_BUDGET = 8.0


@pytest.fixture
def app_for() -> Iterator[Callable[[str], Celery]]:
    """Celery apps built with the vetted configuration, their connections closed after."""
    apps: list[Celery] = []

    def build(broker_url: str) -> Celery:
        settings = SharedSettings(
            celery_broker_url=broker_url, celery_result_backend_url=broker_url
        )
        app = create_celery_app("bounded", default_queue="bounded", settings=settings)

        @app.task(name=f"bounded.noop.{broker_url}")  # one name per app: Celery warns on reuse
        def noop() -> None: ...

        apps.append(app)
        return app

    yield build
    for app in apps:
        # app.pool is kombu's ConnectionPool; celery-types calls it a ProducerPool.
        app.pool.force_close_all()  # type: ignore[attr-defined]
        app.close()


def timed_publish(app: Celery) -> float:
    started = time.monotonic()
    with pytest.raises(OperationalError):
        next(task for name, task in app.tasks.items() if name.startswith("bounded.")).delay()
    return time.monotonic() - started


AppFor = Callable[[str], Celery]


def test_a_publish_to_a_silent_broker_fails_within_seconds(
    silent_broker: str, app_for: AppFor
) -> None:
    assert timed_publish(app_for(silent_broker)) < REQUEST_BUDGET


def test_a_publish_to_a_refusing_broker_fails_within_seconds(app_for: AppFor) -> None:
    assert timed_publish(app_for(f"redis://127.0.0.1:{free_port()}/0")) < REQUEST_BUDGET


def test_the_broker_health_check_fails_within_seconds_on_a_silent_broker(
    silent_broker: str, app_for: AppFor
) -> None:
    started = time.monotonic()

    check = check_broker(app_for(silent_broker))

    assert not check.ok
    assert time.monotonic() - started < REQUEST_BUDGET
