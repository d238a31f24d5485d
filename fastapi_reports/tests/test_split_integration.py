"""A long report split across worker processes: a real worker, a real Redis, a real chord.

The worker is the real reports app (`slices_as_asked.py` only slows a slice down, or
makes one fail, when a test asks), with two prefork processes, as deployed.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reports.api.routes import reports as reports_api
from reports.config import settings
from reports.db import SessionLocal
from reports.models import Report, ReportPart, User
from reports.parts import MAX_PARTS, split_into_parts
from reports.sales import SLICE_DAYS, SLICE_SECONDS
from reports.schemas import MAX_SPAN_DAYS
from reports.tasks import TOOK_TOO_LONG, build_report
from shared.testing import start_worker, wait_until

pytestmark = pytest.mark.integration
TESTS_DIR = Path(__file__).resolve().parent
TODAY = dt.datetime.now(dt.UTC).date()
FIRST_DAY = TODAY - dt.timedelta(days=MAX_SPAN_DAYS)
PARTS = split_into_parts(FIRST_DAY, TODAY)
FINISHED = {"done", "failed", "cancelled"}
ReadEvents = Callable[[int], list[dict[str, Any]]]
# Each slice slower than the pace slices aim for, so they never grow past SLICE_DAYS:
# a part lasts 9 slices, long enough to be watched, cancelled or failed mid-way.
SLOW_SLICE = str(SLICE_SECONDS * 1.2)


@contextmanager
def worker(
    private_broker: dict[str, str], *, log: Path | None = None, **env: str
) -> Iterator[None]:
    """A reports worker of two processes, its slices as `env` asks (see slices_as_asked.py)."""
    with start_worker(
        "slices_as_asked",
        queue="reports",
        cwd=TESTS_DIR,
        env={**private_broker, **env},
        concurrency=2,
        log=log,
    ):
        yield


def request_longest(client: TestClient, period: str = "week") -> str:
    """Ask for a report of the longest range, which is cut into the most parts."""
    body = {
        "report_type": "sales_summary",
        "format": "csv",
        "date_from": FIRST_DAY.isoformat(),
        "date_to": TODAY.isoformat(),
        "period": period,
    }
    response = client.post("/api/reports", json=body)
    assert response.status_code == 202, response.text
    return str(response.headers["location"])


def finished(client: TestClient, location: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        report: dict[str, Any] = client.get(location).json()
        return report if report["status"] in FINISHED else None

    result: dict[str, Any] = wait_until(done, timeout=timeout, interval=0.1)
    return result


def parts_of(report_id: int, task_id: str | None = None) -> list[tuple[dt.date, int, int]]:
    """(first day, days counted, runs) of each part of a run of the report (default: the last)."""
    with SessionLocal() as session:
        run = task_id or session.scalar(select(Report.task_id).where(Report.id == report_id))
        rows = session.execute(
            select(ReportPart.first_day, ReportPart.days_done, ReportPart.runs)
            .where(ReportPart.report_id == report_id, ReportPart.task_id == run)
            .order_by(ReportPart.first_day)
        )
        return [(first, days, runs) for first, days, runs in rows]


def task_id_of(report_id: int) -> str:
    with SessionLocal() as session:
        return session.get_one(Report, report_id).task_id or ""


def logged(log: Path, pattern: str) -> Callable[[], re.Match[str] | None]:
    """A predicate: a line of the worker's log matches `pattern`."""
    return lambda: re.search(pattern, log.read_text(), re.MULTILINE)


def report_id_of(location: str) -> int:
    return int(location.rstrip("/").rpartition("/")[2])


def test_a_split_report_writes_the_file_the_single_task_writes(
    client: TestClient,
    alice: User,
    session: Session,
    private_broker: dict[str, str],
) -> None:
    assert len(PARTS) == MAX_PARTS
    with worker(private_broker):
        location = request_longest(client)
        report = finished(client, location)
    assert (report["status"], report["percent"]) == ("done", 100), report
    report_id = report_id_of(location)
    days = [part[1] for part in parts_of(report_id)]
    assert days == [(last - first).days + 1 for first, last in PARTS]
    assert [part[2] for part in parts_of(report_id)] == [1] * MAX_PARTS  # each part ran once

    # The same report, built in one task (a direct call never splits).
    row = session.get_one(Report, report_id)
    twin = Report(
        owner_id=alice.id,
        **{
            name: getattr(row, name)
            for name in ("report_type", "format", "period", "date_from", "date_to")
        },
    )
    session.add(twin)
    session.commit()
    assert build_report(twin.id) == "done"
    session.refresh(twin)
    assert twin.file_name is not None
    assert client.get(f"{location}/download").content == (
        (settings.files_dir / twin.file_name).read_bytes()
    )


def test_progress_sums_the_parts_and_streams_to_the_browser(
    client: TestClient,
    alice: User,
    events_of: ReadEvents,
    private_broker: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reports_api, "POLL_SECONDS", 0.1)
    snapshots: list[list[tuple[dt.date, int, int]]] = []
    with worker(private_broker, SLOW_SLICE_SECONDS=SLOW_SLICE):
        location = request_longest(client)
        report_id = report_id_of(location)
        stop = threading.Event()

        def watch_parts() -> None:
            while not stop.wait(0.05):
                snapshots.append(parts_of(report_id))

        watcher = threading.Thread(target=watch_parts)
        watcher.start()
        try:
            events = events_of(report_id)
        finally:
            stop.set()
            watcher.join()
    percents = [event["percent"] for event in events]
    assert events[-1]["status"] == "done", events[-1]
    # Live: the page saw the report climb, step by step, and never fall back.
    assert percents == sorted(percents)
    assert len({p for p in percents if 0 < p < 100}) >= 3, percents
    # Summed over the parts: two of them counted days at the same time.
    assert any(sum(days > 0 for _, days, _ in parts) >= 2 for parts in snapshots), snapshots


def test_a_cancel_stops_every_part_and_nothing_is_written(
    client: TestClient, alice: User, private_broker: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with worker(private_broker, log=log, SLOW_SLICE_SECONDS=SLOW_SLICE):
        location = request_longest(client)
        report_id = report_id_of(location)
        wait_until(lambda: any(days for _, days, _ in parts_of(report_id)), timeout=30)
        assert client.post(f"{location}/cancel").status_code == 202
        # The chord calls the merge once every part has returned: then nothing runs.
        merged = wait_until(
            logged(log, r"merge_report_parts\[.*\] succeeded .*: (.*)$"), timeout=30
        )
    assert client.get(location).json()["status"] == "cancelled"
    parts = parts_of(report_id)
    # The two parts that were running stopped before their end; the two queued never started.
    assert [runs for _, _, runs in parts] == [1, 1, 0, 0], parts
    whole = [(last - first).days + 1 for first, last in PARTS]
    assert all(days < whole_days for (_, days, _), whole_days in zip(parts, whole, strict=True))
    assert merged[1] == "'cancelled'"  # what the merge returned, having written nothing
    # Neither a file nor a partial one of this run (ids of other tests' reports may recur).
    assert list(settings.files_dir.glob(f"*report-{report_id}-{task_id_of(report_id)}*")) == []


def test_a_failing_part_fails_the_report_with_its_message_and_a_retry_builds_it(
    client: TestClient, alice: User, private_broker: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    # The second slice of the second part fails, while the first part runs beside it.
    second_slice = PARTS[1][0] + dt.timedelta(days=SLICE_DAYS)
    failing = {"SLOW_SLICE_SECONDS": SLOW_SLICE, "FAIL_SLICE_FROM": str(second_slice)}
    with worker(private_broker, log=log, **failing):
        location = request_longest(client)
        report = finished(client, location)
        report_id = report_id_of(location)
        # Once every part has returned, the chord calls the merge's errback.
        wait_until(logged(log, "a part or the merge failed"), timeout=30)
    first, last = PARTS[1]
    assert (report["status"], report["message"]) == (
        "failed",
        f"The sales from {first} to {last} could not be added up: try again.",
    )
    old_run = task_id_of(report_id)
    before_retry = parts_of(report_id)
    (_, part_1, _), (_, part_2, _), *queued = before_retry
    assert 0 < part_1 < (PARTS[0][1] - PARTS[0][0]).days + 1  # it stopped before its end
    assert part_2 == SLICE_DAYS  # its first slice, and no more
    assert [runs for _, _, runs in queued] == [0, 0]  # they never started

    # Try again: a new run under a new message builds it; the old run's parts stay as they were.
    with worker(private_broker):
        assert client.post(f"{location}/retry").status_code == 202
        report = finished(client, location)
    assert report["status"] == "done", report
    assert client.get(f"{location}/download").status_code == 200
    assert parts_of(report_id, old_run) == before_retry
    assert [runs for _, _, runs in parts_of(report_id)] == [1] * MAX_PARTS


def test_a_part_the_hard_time_limit_kills_fails_the_report_through_the_errback(
    client: TestClient, alice: User, private_broker: dict[str, str]
) -> None:
    # The part hangs, deaf to the soft limit, so it cannot fail the report itself:
    # the worker kills it at the hard limit, and the chord calls the merge's errback.
    with worker(
        private_broker,
        HANG_SLICE_FROM=str(PARTS[1][0]),
        CELERY_TASK_SOFT_TIME_LIMIT="1",
        CELERY_TASK_TIME_LIMIT="3",
    ):
        location = request_longest(client)
        report = finished(client, location, timeout=30)
    assert (report["status"], report["message"]) == ("failed", TOOK_TOO_LONG)
