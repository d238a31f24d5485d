"""The reports on the running stack: a report built by the worker with live progress, then
downloaded, and a failure seen where it should be. `make check-integration APP=reports`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from clients import ReportsUser
from conftest import TASK_SECONDS, check_failure_propagates

from shared.settings import SharedSettings


@pytest.fixture
def user(config: SharedSettings) -> Iterator[ReportsUser]:
    with ReportsUser(config.reports_url) as reports_user:
        yield reports_user


def progress_events(user: ReportsUser, report_id: int) -> list[dict[str, Any]]:
    """Every `progress` event of the report's stream, which ends when the report finishes."""
    events = []
    path = f"/api/reports/{report_id}/events"
    with user.client.stream("GET", path, timeout=TASK_SECONDS) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
    return events


def test_a_report_requested_by_the_api_is_built_by_the_worker_and_downloaded(
    user: ReportsUser,
) -> None:
    requested = user.request_report()
    assert requested.status_code == 202, requested.text[:500]
    report_id = requested.json()["id"]

    events = progress_events(user, report_id)

    assert events[-1]["status"] == "done", events[-1]
    percents = [event["percent"] for event in events]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    # The task read the sales from the database, in the worker's own session.
    assert events[-1]["source_rows"] > 0
    download = user.client.get(f"/api/reports/{report_id}/download").raise_for_status()
    rows = list(csv.reader(io.StringIO(download.text)))
    assert len(rows) - 1 == events[-1]["row_count"] > 0


def test_a_failing_task_is_a_failure_in_the_reports_and_in_flower(
    diagnose: Callable[[str, str], dict[str, Any]], flower: httpx2.Client
) -> None:
    check_failure_propagates("reports", diagnose, flower)
