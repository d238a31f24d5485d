"""The bare app's no-op task with the shared configuration: `shared.celery_app.make_celery`.

Between the bare app and an app's own wiring, it tells what the vetted configuration
costs by itself (task events for Flower, the STARTED state, extended results, the
request-id signal handlers) from what a framework's integration adds on top of it.
Its bench worker: `celery -A bench.vetted worker`.
"""

from __future__ import annotations

from shared.celery_app import make_celery

app = make_celery("vetted", default_queue="bench.vetted")


@app.task(name="bench.noop", ignore_result=False)
def noop() -> None:
    """Nothing, as bench.tasks.noop."""
