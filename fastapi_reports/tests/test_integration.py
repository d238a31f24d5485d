"""The whole path with a real broker and a real worker process: request, build, download."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import update

from reports.db import SessionLocal
from reports.models import Report, User
from reports.reaper import NEVER_STARTED, PENDING_AT_MOST
from shared.testing import start_worker, wait_until

pytestmark = pytest.mark.integration
APP_DIR = Path(__file__).resolve().parents[1]
TODAY = dt.datetime.now(dt.UTC).date()
FINISHED = {"done", "failed", "cancelled"}


def test_worker_builds_a_requested_report(
    client: TestClient, alice: User, private_broker: dict[str, str]
) -> None:
    with start_worker("reports.celery_app", queue="reports", cwd=APP_DIR, env=private_broker):
        health = client.get("/health/worker")
        assert health.status_code == 200, health.text
        assert "reports-test-" in health.json()["checks"][-1]["detail"]

        request = {
            "report_type": "sales_summary",
            "format": "csv",
            "date_from": (TODAY - dt.timedelta(days=365)).isoformat(),
            "date_to": TODAY.isoformat(),
            "period": "week",
        }
        location = client.post("/api/reports", json=request).headers["location"]

        def finished() -> dict[str, Any] | None:
            report: dict[str, Any] = client.get(location).json()
            return report if report["status"] in FINISHED else None

        report = wait_until(finished, timeout=30, interval=0.2)

    assert (report["status"], report["percent"]) == ("done", 100), report
    download = client.get(f"{location}/download")
    header, *rows = list(csv.reader(io.StringIO(download.text)))
    assert header == ["period", "region", "orders", "quantity", "amount"]
    assert len(rows) == report["row_count"]
    assert sum(int(row[2]) for row in rows) == report["source_rows"] > 0


def test_a_report_whose_message_redis_lost_fails_when_read_and_builds_on_retry(
    client: TestClient, alice: User, private_broker: dict[str, str]
) -> None:
    request = {
        "report_type": "sales_summary",
        "format": "csv",
        "date_from": (TODAY - dt.timedelta(days=30)).isoformat(),
        "date_to": TODAY.isoformat(),
    }
    location = client.post("/api/reports", json=request).headers["location"]
    # No worker took the message before Redis lost its data (a restart without persistence)...
    redis.Redis.from_url(private_broker["CELERY_BROKER_URL"]).flushdb()
    # ...and by now a message held by a dead worker would have come back.
    with SessionLocal.begin() as session:
        queued_at = dt.datetime.now(dt.UTC) - PENDING_AT_MOST - dt.timedelta(seconds=1)
        session.execute(update(Report).values(queued_at=queued_at))

    report = client.get(location).json()
    assert (report["status"], report["message"]) == ("failed", NEVER_STARTED)

    with start_worker("reports.celery_app", queue="reports", cwd=APP_DIR, env=private_broker):
        assert client.post(f"{location}/retry").status_code == 202

        def finished() -> dict[str, Any] | None:
            report: dict[str, Any] = client.get(location).json()
            return report if report["status"] in FINISHED else None

        report = wait_until(finished, timeout=30, interval=0.2)
    assert report["status"] == "done", report
    assert client.get(f"{location}/download").status_code == 200
