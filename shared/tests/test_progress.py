from types import SimpleNamespace
from typing import Any

import pytest

from shared.progress import PROGRESS, Progress, ProgressReporter, percent, read_progress


class RecordingTask:
    """Stands in for a bound task: records what `update_state` stores."""

    def __init__(self, task_id: str | None = "t-1", *, ignore_result: bool = False) -> None:
        self.request = SimpleNamespace(id=task_id)
        self.ignore_result = ignore_result
        self.states: list[tuple[str, dict[str, Any]]] = []

    def update_state(self, *, state: str, meta: dict[str, Any]) -> None:
        self.states.append((state, meta))


def reporter(task: RecordingTask, **kwargs: Any) -> ProgressReporter:
    return ProgressReporter(task, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "total", "expected"), [(0, 10, 0), (5, 10, 50), (10, 10, 100), (3, 0, 100)]
)
def test_percent(current: int, total: int, expected: int) -> None:
    assert percent(Progress(current=current, total=total, message="")) == expected


def test_writes_the_one_meta_schema() -> None:
    task = RecordingTask()

    reporter(task, total=4).update(0, "starting")

    assert task.states == [(PROGRESS, {"current": 0, "total": 4, "message": "starting"})]


def test_throttles_writes_but_always_writes_the_last_step() -> None:
    task = RecordingTask()
    progress = reporter(task, total=1000, min_interval=60)

    for step in range(1001):
        progress.update(step)

    assert [meta["current"] for _, meta in task.states] == [0, 1000]


def test_mirrors_every_write_to_on_update() -> None:
    task = RecordingTask()
    mirrored: list[Progress] = []

    reporter(task, total=2, min_interval=0, on_update=mirrored.append).update(1, "half")

    assert mirrored == [{"current": 1, "total": 2, "message": "half"}]


def test_a_direct_call_without_a_task_id_stores_nothing_in_the_backend() -> None:
    task = RecordingTask(task_id=None)
    mirrored: list[Progress] = []

    reporter(task, total=1, on_update=mirrored.append).update(1)

    assert task.states == []
    assert len(mirrored) == 1


@pytest.mark.parametrize(
    ("state", "info", "expected"),
    [
        (PROGRESS, {"current": 1, "total": 4, "message": "m"}, (25, "m")),
        ("SUCCESS", 42, (100, "done")),
        ("PENDING", None, (0, "pending")),
        ("FAILURE", ValueError("boom"), (0, "boom")),
    ],
)
def test_read_progress(state: str, info: Any, expected: tuple[int, str]) -> None:
    result = SimpleNamespace(state=state, info=info)

    read = read_progress(result)  # type: ignore[arg-type]

    assert read["state"] == state
    assert (read["percent"], read["message"]) == expected


def test_a_task_that_ignores_its_result_writes_only_to_on_update() -> None:
    task = RecordingTask(ignore_result=True)
    mirrored: list[Progress] = []

    reporter(task, total=2, min_interval=0, on_update=mirrored.append).update(2, "done")

    assert task.states == []
    assert mirrored == [{"current": 2, "total": 2, "message": "done"}]
