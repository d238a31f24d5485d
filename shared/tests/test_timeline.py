"""The timeline: what a real worker does to a task, recorded as it happens, in order."""

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.progress import Progress
from shared.testing import start_worker, wait_until
from shared.timeline import (
    COMMITTED_AT,
    COMMITTED_DETAIL,
    PUBLISHED_AT,
    Event,
    Kind,
    Timeline,
    first_argument,
    rows,
)

HERE = Path(__file__).parent


def test_first_argument_is_the_subject() -> None:
    assert first_argument((7, "x"), {}) == 7
    assert first_argument((), {"order_id": "8"}) == 8
    assert first_argument((), {}) is None


def test_rows_show_the_time_since_the_event_before() -> None:
    start = datetime(2026, 3, 1, 14, 3, 7, 125000, tzinfo=UTC)
    events = [
        Event(1, Kind.COMMITTED, start),
        Event(1, Kind.PUBLISHED, start + timedelta(milliseconds=12), "0123456789abcdef", "t"),
    ]
    shown = rows(events)
    assert [(r.kind, r.time, r.since, r.task) for r in shown] == [
        ("committed", "14:03:07.125", "", ""),
        ("published", "14:03:07.137", "+0.012 s", "01234567"),
    ]


def test_the_publisher_only_stamps_the_message() -> None:
    events: list[Event] = []
    timeline = Timeline({"app.build": first_argument}, events.append)
    headers: dict[str, Any] = {"task": "app.build", "id": "t-1"}
    timeline.committed(7, "row 7 saved")
    timeline._publishing(sender="app.build", headers=headers, body=((7,), {}, {}))

    assert events == []  # nothing written where the request runs
    assert headers[COMMITTED_AT] <= headers[PUBLISHED_AT]
    assert headers[COMMITTED_DETAIL] == "row 7 saved"
    other: dict[str, Any] = {"task": "app.build", "id": "t-2"}
    timeline._publishing(sender="app.build", headers=other, body=((8,), {}, {}))
    assert COMMITTED_AT not in other  # the commit went with the first publish


def test_a_record_that_fails_is_logged_and_the_work_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("database is down")

    timeline = Timeline({"app.build": first_argument}, broken)
    task: Any = RunningTask()
    with caplog.at_level(logging.ERROR, logger="shared.timeline"):
        timeline._started(task_id="task-1", task=task, args=(5,))
    assert "could not record started of 5" in caplog.text


class RunningTask:
    """Stands in for a bound task inside a worker: a name and a request id."""

    name = "app.build"

    class request:  # noqa: N801 (the attribute Celery's tasks have)
        id = "task-1"
        retries = 0
        hostname = "worker@host"
        delivery_info: dict[str, object] = {}
        eta = None


def test_progress_is_recorded_once_per_quarter() -> None:
    events: list[Event] = []
    timeline = Timeline({}, events.append)
    task: Any = RunningTask()
    for current in range(0, 101, 5):
        timeline.progress(task, 3, Progress(current=current, total=100, message="rows"))

    assert [e.detail for e in events] == ["25 %: rows", "50 %: rows", "75 %: rows"]
    assert {(e.kind, e.subject, e.task_id) for e in events} == {(Kind.PROGRESS, 3, "task-1")}


@pytest.fixture
def timeline_file(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "timeline.jsonl"
    env = {
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "CELERY_RESULT_BACKEND_URL": f"{redis_url}/1",
        "TIMELINE_FILE": str(path),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return path, env


def read_timeline(path: Path, subject: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if e["subject"] == subject]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in sorted(events, key=lambda e: e["at"])]


@pytest.mark.integration
def test_a_retry_waits_its_countdown_and_shows_why(
    timeline_file: tuple[Path, dict[str, str]],
) -> None:
    path, env = timeline_file
    import worker_app

    with start_worker("worker_app", queue="shared-tests", cwd=HERE, env=env):
        result = worker_app.retry_once.delay(41)
        wait_until(lambda: "succeeded" in kinds(read_timeline(path, 41)), timeout=20)

    events = sorted(read_timeline(path, 41), key=lambda e: e["at"])
    assert kinds(events) == [
        "published",
        "received",
        "started",
        "retried",
        "received",
        "started",
        "succeeded",
    ]
    assert {e["task_id"] for e in events} == {result.id}
    retried = events[3]
    assert retried["detail"].startswith("Retry in 1s")
    assert "first attempt" in retried["detail"]
    assert "held until" in events[4]["detail"]
    assert events[5]["detail"].startswith("attempt 2 on ")
    waited = _seconds_between(retried["at"], events[5]["at"])
    assert waited >= 0.9, f"the retry started {waited:.2f} s after it was scheduled, not 1 s"


@pytest.mark.integration
def test_a_redelivery_after_the_worker_process_died_is_a_second_receipt(
    timeline_file: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, env = timeline_file
    import worker_app

    marker = tmp_path / "died"
    with start_worker(
        "worker_app", queue="shared-tests", cwd=HERE, env=env, concurrency=2
    ) as worker:
        result = worker_app.die_once.delay(42, str(marker))
        wait_until(lambda: "succeeded" in kinds(read_timeline(path, 42)), timeout=30)

    events = read_timeline(path, 42)
    assert kinds(events) == ["published", "received", "started", "received", "started", "succeeded"]
    assert {e["task_id"] for e in events} == {result.id}
    # The main process, which takes the messages, writes none of them: its pool processes do.
    assert worker.pid not in {e["pid"] for e in events if e["kind"] != "published"}


def test_only_the_named_tasks_are_recorded() -> None:
    events: list[Event] = []
    timeline = Timeline({"app.build": first_argument}, events.append)
    task: Any = RunningTask()
    timeline._started(task_id="t", task=task, args=(9,))
    other: Any = type("Other", (RunningTask,), {"name": "app.other"})()
    timeline._started(task_id="u", task=other, args=(9,))
    assert [(e.task_id, e.subject) for e in events] == [("t", 9)]


def _seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()
