"""One way for every long task to report progress, and one schema to read it.

A task reports `{"current", "total", "message"}`; writes are throttled, so it
may call `update` for every row it handles. Where progress is kept is the app's
choice, and there is one place per app:

- `on_update` saves it where the app keeps the task's state, usually the row
  the task works on (an export, a report). Pages read the row: it survives the
  result backend's expiry, and it carries the owner, so no one reads another
  user's progress by guessing a task id. Both apps do this.
- A task that keeps its result (`ignore_result=False`) also stores it as the
  custom `PROGRESS` state in the result backend, and `read_progress` reads it
  back, until the task's own SUCCESS or FAILURE replaces it. A task that ignores
  its result never writes there: nothing would ever replace a stale PROGRESS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from celery import Task
from celery.result import AsyncResult

PROGRESS = "PROGRESS"


class Progress(TypedDict):
    current: int
    total: int
    message: str


def percent(progress: Progress) -> int:
    """Whole percent done, 0..100; a total of 0 counts as done."""
    if progress["total"] <= 0:
        return 100
    return max(0, min(100, progress["current"] * 100 // progress["total"]))


@dataclass
class ProgressReporter:
    """Reports the progress of `task` out of `total` steps.

    `update` writes at most once every `min_interval` seconds (and always for
    the first and the last step); `on_update` is called with every write, for
    apps that also keep progress in their own database row.
    """

    task: Task[Any, Any]
    total: int
    min_interval: float = 0.5
    on_update: Callable[[Progress], None] | None = None
    _last_write: float = field(default=float("-inf"), init=False, repr=False)

    def update(self, current: int, message: str = "", *, force: bool = False) -> Progress | None:
        """Record `current` of `total` steps done; returns what was written, if anything."""
        now = time.monotonic()
        is_edge = current <= 0 or current >= self.total
        if not (force or is_edge or now - self._last_write >= self.min_interval):
            return None
        progress = Progress(current=current, total=self.total, message=message)
        self._last_write = now
        if self._keeps_result():
            self.task.update_state(state=PROGRESS, meta=dict(progress))
        if self.on_update is not None:
            self.on_update(progress)
        return progress

    def _keeps_result(self) -> bool:
        """Does the result backend hold this run's outcome (so a PROGRESS there ends)?"""
        request = self.task.request
        if request.id is None:  # called directly, not through a worker
            return False
        return not (self.task.ignore_result or getattr(request, "ignore_result", False))


def read_progress(result: AsyncResult[Any]) -> dict[str, Any]:
    """The state of a task that keeps its result, as one JSON-ready dict.

    Keys: state, current, total, message, percent. Only for tasks with
    `ignore_result=False`: for the others the backend holds nothing to read.
    """
    state = result.state
    info = result.info if isinstance(result.info, dict) else {}
    if state == PROGRESS:
        progress = Progress(
            current=int(info.get("current", 0)),
            total=int(info.get("total", 0)),
            message=str(info.get("message", "")),
        )
        return {"state": state, **progress, "percent": percent(progress)}
    if state == "SUCCESS":
        return {"state": state, "current": 1, "total": 1, "message": "done", "percent": 100}
    message = str(result.info) if state == "FAILURE" else state.lower()
    return {"state": state, "current": 0, "total": 0, "message": message, "percent": 0}
