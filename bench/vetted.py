"""The bare app's no-op task with the shared configuration: `shared.celery_app.create_celery_app`.

Between the bare app and an app's own wiring, it tells what the vetted configuration
costs by itself (task events for Flower, the STARTED state, extended results, the
request-id signal handlers) from what a framework's integration adds on top of it.
Its bench worker: `celery -A bench.vetted worker`.
"""

from __future__ import annotations

from shared.celery_app import create_celery_app

app = create_celery_app("vetted", default_queue="bench.vetted")


@app.task(name="bench.noop", ignore_result=False)
def noop() -> None:
    """Nothing, as bench.tasks.noop."""
