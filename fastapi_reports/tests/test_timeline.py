"""The report's task timeline: committed before published, what the workers did, owner only."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_split_integration import FIRST_DAY, PARTS, request_longest

from reports.db import SessionLocal
from reports.models import Report, ReportEvent, User
from shared.testing import start_worker, wait_until
from shared.timeline import COMMITTED_AT, PUBLISHED_AT, Kind

APP_DIR = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
TODAY = dt.datetime.now(dt.UTC).date()
YEAR = {
    "report_type": "sales_summary",
    "format": "csv",
    "date_from": (TODAY - dt.timedelta(days=365)).isoformat(),
    "date_to": TODAY.isoformat(),
    "period": "week",
}


def timeline(client: TestClient, location: str) -> list[dict[str, Any]]:
    response = client.get(f"{location}/timeline")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["kind"] for event in events]


def test_the_request_writes_no_event_and_stamps_the_commit_before_the_publish(
    client: TestClient, alice: User, private_broker: dict[str, str]
) -> None:
    location = client.post("/api/reports", json=YEAR).headers["location"]  # no worker runs it

    assert timeline(client, location) == []  # the worker writes every event
    broker = redis.Redis.from_url(private_broker["CELERY_BROKER_URL"])
    [headers] = [json.loads(raw)["headers"] for raw in broker.lrange("reports", 0, -1)]
    broker.flushdb()  # the message, for no later test to take
    assert headers["task"] == "reports.build_report"
    assert headers[COMMITTED_AT] <= headers[PUBLISHED_AT]


def add_events(session: Session, report_id: int) -> None:
    at = dt.datetime(2026, 3, 1, 14, 3, 7, 125000, tzinfo=dt.UTC)
    session.add_all(
        [
            ReportEvent(report_id=report_id, kind=Kind.COMMITTED, at=at),
            ReportEvent(report_id=report_id, kind=Kind.PUBLISHED, at=at, task_id="abc"),
        ]
    )
    session.commit()


def test_only_the_owner_reads_the_timeline(
    client: TestClient,
    alice: User,
    bob: User,
    users: Any,
    session: Session,
    private_broker: dict[str, str],
) -> None:
    location = client.post("/api/reports", json=YEAR).headers["location"]
    report_id = int(location.rpartition("/")[2])
    add_events(session, report_id)
    assert kinds(timeline(client, location)) == ["committed", "published"]
    page = client.get(f"/reports/{report_id}").text
    assert re.findall(r'<tr data-kind="(\w+)">', page) == ["committed", "published"]
    assert "<caption>Task timeline</caption>" in page

    users.log_in(client, "bob")
    assert client.get(f"{location}/timeline").status_code == 404
    assert 'data-kind="' not in client.get(f"/reports/{report_id}").text


def test_the_events_go_with_their_report(
    client: TestClient, alice: User, session: Session, private_broker: dict[str, str]
) -> None:
    location = client.post("/api/reports", json=YEAR).headers["location"]
    report = session.get_one(Report, int(location.rpartition("/")[2]))
    add_events(session, report.id)
    assert session.scalar(select(func.count()).select_from(ReportEvent)) == 2
    session.delete(report)
    session.commit()
    assert session.scalar(select(func.count()).select_from(ReportEvent)) == 0


@pytest.mark.integration
def test_a_real_worker_builds_it_step_by_step(
    client: TestClient, alice: User, private_broker: dict[str, str]
) -> None:
    with start_worker("reports.celery_app", queue="reports", cwd=APP_DIR, env=private_broker):
        location = client.post("/api/reports", json=YEAR).headers["location"]
        wait_until(lambda: "succeeded" in kinds(timeline(client, location)), timeout=30)

    events = timeline(client, location)
    assert kinds(events)[:4] == ["committed", "published", "received", "started"]
    assert kinds(events)[-1] == "succeeded"
    assert set(kinds(events)[4:-1]) <= {"progress"}
    assert "progress" in kinds(events), "a year's build passes a quarter at least once"
    assert events[-1]["detail"] == "returned 'done'"
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


@pytest.mark.integration
def test_a_split_report_shows_each_part_and_the_merge_and_a_failure_shows_why(
    client: TestClient, alice: User, private_broker: dict[str, str]
) -> None:
    failing = PARTS[-1][0].isoformat()  # the last part's first slice raises
    with start_worker(
        "slices_as_asked",
        queue="reports",
        cwd=TESTS_DIR,
        env={**private_broker, "FAIL_SLICE_FROM": failing},
        concurrency=2,
    ):
        location = request_longest(client)
        wait_until(lambda: "failed" in kinds(timeline(client, location)), timeout=60)

    events = timeline(client, location)
    names = {e["task_name"] for e in events}
    assert {"reports.build_report", "reports.build_report_part"} <= names
    started_parts = [
        e
        for e in events
        if e["task_name"] == "reports.build_report_part" and e["kind"] == "started"
    ]
    assert len(started_parts) == len(PARTS)
    failed = next(e for e in events if e["kind"] == "failed")
    assert failed["task_name"] == "reports.build_report_part"
    assert f"RuntimeError: the slice from {failing} fails" in failed["detail"]
    assert PARTS[-1][0] > FIRST_DAY
    with SessionLocal() as session:
        report = session.get_one(Report, int(location.rpartition("/")[2]))
        assert report.status == "failed"
