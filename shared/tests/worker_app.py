"""A minimal app built with the shared factory, for the integration tests' real worker."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from celery import Task, shared_task

from shared.celery_app import create_celery_app
from shared.progress import ProgressReporter
from shared.timeline import Event, Timeline, first_argument

app = create_celery_app("shared-tests", default_queue="shared-tests")
app.conf.update(include=["worker_app"])
logger = logging.getLogger(__name__)


def record(event: Event) -> None:
    """Append the event to the file the test names, as one JSON line."""
    path = os.environ.get("TIMELINE_FILE")
    if not path:
        return
    with Path(path).open("a") as out:
        line = {**event.__dict__, "at": event.at.isoformat(), "pid": os.getpid()}
        out.write(json.dumps(line) + "\n")


timeline = Timeline(
    {"worker_app.retry_once": first_argument, "worker_app.die_once": first_argument}, record
)
timeline.connect()


@shared_task(bind=True, ignore_result=False)
def count_to(self: Task[Any, Any], total: int, hold: float = 0.0) -> int:
    """Count to `total`, holding `hold` seconds before the last step so a test can watch."""
    logger.info("counting to %d", total)
    reporter = ProgressReporter(self, total=total, min_interval=0)
    for step in range(total):
        reporter.update(step, f"step {step}")
    time.sleep(hold)
    reporter.update(total, "done")
    return total


@shared_task(bind=True)
def retry_once(self: Task[Any, Any], subject: int) -> None:
    """Fail the first attempt with a retry 1 s later, then succeed."""
    if self.request.retries == 0:
        raise self.retry(countdown=1, exc=OSError("first attempt"))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def die_once(self: Task[Any, Any], subject: int, marker: str) -> None:
    """Kill the process running it the first time, as a crash or the OOM killer would."""
    if not Path(marker).exists():
        Path(marker).touch()
        os._exit(1)
