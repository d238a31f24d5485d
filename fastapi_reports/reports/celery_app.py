"""The Celery app of the reports worker: `celery -A reports.celery_app worker -Q reports`.

It is built from the SAME settings object as the web app (reports/config.py),
so the broker, the database and the file directory cannot disagree. The
configuration is layered as in every app (`shared.celery_app`): the vetted
defaults, made from that settings object; FastAPI has no configuration of its
own to layer over them.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init

from reports.config import settings
from reports.db import engine, event_engine
from reports.timeline import TIMELINE
from shared.celery_app import create_celery_app

celery_app = create_celery_app("reports", default_queue="reports", settings=settings)
celery_app.autodiscover_tasks(["reports"])
# `@shared_task` binds to the current app: make it this one in the web process too.
celery_app.set_default()
# Both the web app and the worker import this module: both follow the tasks onto
# the reports' timelines (the web process publishes, the worker runs).
TIMELINE.connect()


@worker_process_init.connect
def _own_connection_pool(**_: Any) -> None:
    # A forked worker process must never share database connections with its parent.
    engine.dispose(close=False)
    event_engine.dispose(close=False)
