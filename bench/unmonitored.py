"""The shared configuration without what monitoring costs: no task events, no STARTED state.

An app built by `shared.celery_app.create_celery_app`, as bench.vetted is, with
`worker_send_task_events` and `task_track_started` turned off. Beside bench.vetted
it tells what Flower's task events and the STARTED state cost a no-op round trip;
beside the bare app, what the rest of the shared configuration costs.
Its bench worker: `celery -A bench.unmonitored worker`.
"""

from __future__ import annotations

from shared.celery_app import create_celery_app

app = create_celery_app("unmonitored", default_queue="bench.unmonitored")
app.conf.update(worker_send_task_events=False, task_track_started=False)


@app.task(name="bench.noop", ignore_result=False)
def noop() -> None:
    """Nothing, as bench.tasks.noop."""
