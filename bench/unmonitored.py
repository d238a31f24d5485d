"""The shared configuration without what monitoring costs, one part at a time.

Three apps built by `shared.celery_app.create_celery_app`, as bench.vetted is, each
with its own no-op task (`bench.noop`):

    app                 worker_send_task_events and task_track_started off: beside the
                        bare app, what the rest of the shared configuration costs
    without_events      no task events (so nothing for Flower to receive): the STARTED
                        state's share of what bench.vetted costs
    without_started     no STARTED state: the task events' share, Flower's work on them
                        included when Flower runs

Their bench workers: `celery -A bench.unmonitored worker`, `celery -A
bench.unmonitored:without_events worker`, `celery -A bench.unmonitored:without_started worker`.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from shared.celery_app import create_celery_app


def _noop() -> None:
    """Nothing, as bench.tasks.noop."""


def _app(name: str, **off: bool) -> tuple[Celery, Any]:
    """An app of the shared configuration with `off` applied, and its no-op task."""
    app = create_celery_app(name, default_queue=f"bench.{name}")
    app.conf.update(**off)
    return app, app.task(name="bench.noop", ignore_result=False)(_noop)


without_events, without_events_noop = _app("without_events", worker_send_task_events=False)
without_started, without_started_noop = _app("without_started", task_track_started=False)
# Last: `celery -A bench.unmonitored` takes the module's `app`.
app, noop = _app("unmonitored", worker_send_task_events=False, task_track_started=False)
