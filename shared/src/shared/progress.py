"""One way for every long task to report progress, and one schema to read it.

A task reports `{"current", "total", "message"}` as the meta of the custom
`PROGRESS` state; web apps read it back with `read_progress`, and may mirror it
into their own rows through `on_update`. Writes to the result backend are
throttled, so a task may call `update` for every row it handles.
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

    task: Task
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
        # A task called directly (not through a worker) has no id: nothing to store.
        if self.task.request.id is not None:
            self.task.update_state(state=PROGRESS, meta=dict(progress))
        if self.on_update is not None:
            self.on_update(progress)
        return progress


def read_progress(result: AsyncResult[Any]) -> dict[str, Any]:
    """The state of a task as one JSON-ready dict: state, current, total, message, percent."""
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
