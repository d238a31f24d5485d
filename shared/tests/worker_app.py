"""A minimal app built with the shared factory, for the integration tests' real worker."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task, shared_task

from shared.celery_app import create_celery_app
from shared.progress import ProgressReporter

app = create_celery_app("shared-tests", default_queue="shared-tests")
app.conf.update(include=["worker_app"])
logger = logging.getLogger(__name__)


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
