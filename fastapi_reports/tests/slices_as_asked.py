"""The reports worker, with each slice slow, failing or hung as the environment asks.

`celery -A slices_as_asked worker`, run from this folder, is the real reports app:
its tasks, its broker, its result backend, its database. Only `summarize_slice`,
one slice's read, is wrapped, so that an integration test can watch a build, or
make one part of it fail:

- SLOW_SLICE_SECONDS: every slice sleeps this long first, so a build lasts long enough
  to be watched and cancelled;
- FAIL_SLICE_FROM: the slice that starts on this ISO date raises;
- HANG_SLICE_FROM: the slice that starts on this ISO date never ends and does not heed
  the soft time limit (a read stuck in the database): only the hard time limit ends it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from contextlib import suppress
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session

from reports import tasks
from reports.celery_app import celery_app
from reports.sales import summarize_slice

__all__ = ["celery_app"]

_summarize_slice = summarize_slice


def _summarize_as_asked(session: Session, date_from: dt.date, date_to: dt.date) -> Any:
    time.sleep(float(os.environ.get("SLOW_SLICE_SECONDS", "0")))
    if date_from.isoformat() == os.environ.get("FAIL_SLICE_FROM"):
        raise RuntimeError(f"the slice from {date_from} fails, as the test asked")
    while date_from.isoformat() == os.environ.get("HANG_SLICE_FROM"):
        with suppress(SoftTimeLimitExceeded):
            time.sleep(3600)
    return _summarize_slice(session, date_from, date_to)


# The name reports.tasks calls (imported there from reports.sales, not exported by it).
tasks.summarize_slice = _summarize_as_asked  # type: ignore[attr-defined]
