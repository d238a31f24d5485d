"""Stuck reports are failed when someone looks at them: the API, the list, the pages, the stream.

Staleness is measured from when the work started (a running report) or was
queued (a pending one), against the broker's redelivery delay: see
reports/reaper.py. The work of a split build starts again with each part and
with the merge.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from reports.api.routes import reports as reports_api
from reports.config import settings
from reports.db import SessionLocal
from reports.models import Report, ReportStatus, User
from reports.parts import split_into_parts
from reports.reaper import NEVER_STARTED, PENDING_AT_MOST, RUNNING_AT_MOST, STOPPED
from reports.runs import PartRun, Run

MakeReport = Callable[..., Report]
ReadEvents = Callable[[int], list[dict[str, Any]]]
SECOND = dt.timedelta(seconds=1)


def ago(delta: dt.timedelta) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - delta


def running_since(make_report: MakeReport, owner: User, delta: dt.timedelta) -> Report:
    """A report whose run started `delta` ago and was never heard of again."""
    return make_report(owner, status=ReportStatus.RUNNING, started_at=ago(delta), attempts=1)


def test_a_run_past_the_redelivery_delay_is_failed_when_read(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    report = running_since(make_report, alice, RUNNING_AT_MOST + SECOND)
    body = client.get(f"/api/reports/{report.id}").json()
    assert (body["status"], body["message"]) == ("failed", STOPPED)


def test_a_run_within_the_redelivery_delay_is_left_running(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    # Old by the time it was CREATED, but it started recently: it may still finish.
    report = make_report(
        alice,
        status=ReportStatus.RUNNING,
        queued_at=ago(PENDING_AT_MOST * 10),
        started_at=ago(RUNNING_AT_MOST - 30 * SECOND),
    )
    assert client.get(f"/api/reports/{report.id}").json()["status"] == "running"


def test_a_run_whose_worker_died_is_left_to_its_redelivered_message(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    # Past the hard time limit, so its worker is gone; Redis has not yet handed
    # its message to another worker, whose run will start the report again.
    hard_limit = dt.timedelta(seconds=settings.celery_task_time_limit)
    report = running_since(make_report, alice, hard_limit + 2 * dt.timedelta(minutes=1))
    assert client.get(f"/api/reports/{report.id}").json()["status"] == "running"


def test_a_report_never_started_past_the_redelivery_delay_is_failed(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    lost = make_report(alice, queued_at=ago(PENDING_AT_MOST + SECOND))
    waiting = make_report(alice, queued_at=ago(PENDING_AT_MOST - 30 * SECOND))
    listed = {report["id"]: report for report in client.get("/api/reports").json()}
    assert (listed[lost.id]["status"], listed[lost.id]["message"]) == ("failed", NEVER_STARTED)
    assert listed[waiting.id]["status"] == "pending"


def test_the_pages_show_a_stuck_report_failed_with_a_retry_button(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    listed = running_since(make_report, alice, RUNNING_AT_MOST * 2)
    shown = running_since(make_report, alice, RUNNING_AT_MOST * 2)
    assert "<td>failed</td>" in client.get("/reports").text.replace("\n", "")
    page = client.get(f"/reports/{shown.id}").text
    assert '<span data-testid="status">failed</span>' in page
    retry_form = re.search(r'<form[^>]*id="retry"[^>]*>', page)
    assert retry_form is not None
    assert "hidden" not in retry_form.group(0)
    assert client.get(f"/api/reports/{listed.id}").json()["status"] == "failed"


def test_the_reaper_removes_what_the_stopped_run_left_behind(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    report = running_since(make_report, alice, RUNNING_AT_MOST * 2)
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    partial = settings.files_dir / f".report-{report.id}-a-task.csv.x1y2.part"
    partial.write_text("half a rep")
    assert client.get(f"/api/reports/{report.id}").json()["status"] == "failed"
    assert not partial.exists()


def test_the_stream_of_a_stuck_report_ends(
    events_of: ReadEvents, alice: User, make_report: MakeReport
) -> None:
    report = make_report(alice, queued_at=ago(PENDING_AT_MOST * 2))
    assert [event["status"] for event in events_of(report.id)] == ["failed"]


def test_a_stream_ends_when_the_report_it_follows_gets_stuck(
    events_of: ReadEvents, alice: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports_api, "POLL_SECONDS", 0.02)
    report = make_report(alice, status=ReportStatus.RUNNING, started_at=ago(SECOND))

    def worker_dies_long_ago() -> None:
        time.sleep(0.2)
        with SessionLocal.begin() as session:
            stopped = ago(RUNNING_AT_MOST * 2)
            session.execute(update(Report).values(started_at=stopped))

    threading.Thread(target=worker_dies_long_ago).start()
    statuses = [event["status"] for event in events_of(report.id)]
    assert statuses == ["running", "failed"]


@pytest.mark.parametrize("starting", ["the last part", "the merge"])
def test_a_split_report_is_stale_only_once_its_last_step_started_long_ago(
    client: TestClient, alice: User, make_report: MakeReport, starting: str
) -> None:
    # Cut into parts long ago; its parts queued behind others' (or behind each other).
    today = dt.datetime.now(dt.UTC).date()
    report = make_report(
        alice,
        task_id="the-build",
        status=ReportStatus.RUNNING,
        started_at=ago(RUNNING_AT_MOST + SECOND),
        date_from=today - dt.timedelta(days=1000),
        date_to=today,
    )
    run = Run(report.id, "the-build")
    parts = split_into_parts(report.date_from, report.date_to)
    with SessionLocal() as session:
        assert run.split(session, parts)
        if starting == "the merge":
            assert run.start_merge(session) == 1
        else:
            assert PartRun(run, *parts[-1]).start(session) == 1
    # Just started: alive, whatever the build's own start says.
    assert client.get(f"/api/reports/{report.id}").json()["status"] == "running"
    # That step too started longer ago than a redelivery takes: nothing will finish it.
    with SessionLocal.begin() as session:
        session.execute(update(Report).values(started_at=ago(RUNNING_AT_MOST + SECOND)))
    body = client.get(f"/api/reports/{report.id}").json()
    assert (body["status"], body["message"]) == ("failed", STOPPED)
