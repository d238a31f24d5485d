"""The no-op task the integration benchmark sends through each app's own Celery app.

An app's bench worker loads it with `celery -A APP worker --include bench.tasks`; the
bench's client imports it after the app. `@shared_task` makes it a task of that app,
built from the app's own task class (the blog's `FlaskTask` pushes the app context
around it), published with the app's configuration and signal handlers.

Its result is kept in Redis, the bare app's result backend, in every app: the blog and
the reports keep their results there anyway; the shop keeps its own in its database
(django-celery-results), which `AsyncResult.get` polls twice a second, so a round trip
through it would time the poll rather than the wiring. `use_redis_results` gives this
one task of the shop a Redis backend; the shop's own tasks are unchanged.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task, shared_task
from celery.backends.redis import RedisBackend
from celery.signals import worker_init

from shared.settings import SharedSettings

NAME = "bench.noop"


@shared_task(name=NAME, ignore_result=False)
def noop() -> None:
    """Nothing: the round trip around it is what is measured."""


def use_redis_results(app: Celery) -> Task[Any, Any]:
    """`app`'s bench.noop, its results in Redis (CELERY_RESULT_BACKEND_URL) like the bare app's."""
    task: Task[Any, Any] = app.tasks[NAME]
    if not isinstance(app.backend, RedisBackend):
        task.backend = RedisBackend(app=app, url=SharedSettings().celery_result_backend_url)
    return task


@worker_init.connect
def _in_the_worker(sender: Any, **_: Any) -> None:
    # Before the pool forks: each pool process builds its tracer from task.backend.
    use_redis_results(sender.app)
