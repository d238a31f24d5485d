"""The baseline of the integration benchmark: a bare Celery app and a no-op task.

`Celery(broker=..., backend=redis)` and nothing else: Celery's defaults, no framework,
no signal handler, on the stack's Redis. Its bench worker: `celery -A bench.bare worker`.
"""

from __future__ import annotations

from celery import Celery

from shared.settings import SharedSettings

_settings = SharedSettings()
app = Celery(
    "bare", broker=_settings.celery_broker_url, backend=_settings.celery_result_backend_url
)


@app.task(name="bench.noop", ignore_result=False)
def noop() -> None:
    """Nothing, as bench.tasks.noop."""
