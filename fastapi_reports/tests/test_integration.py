"""The whole path with a real broker and a real worker process: request, build, download."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reports.models import User
from shared.testing import start_worker, wait_until

pytestmark = pytest.mark.integration
APP_DIR = Path(__file__).resolve().parents[1]
TODAY = dt.datetime.now(dt.UTC).date()


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
            return report if report["status"] in {"done", "failed", "cancelled"} else None

        report = wait_until(finished, timeout=30, interval=0.2)

    assert (report["status"], report["percent"]) == ("done", 100), report
    download = client.get(f"{location}/download")
    header, *rows = list(csv.reader(io.StringIO(download.text)))
    assert header == ["period", "region", "orders", "quantity", "amount"]
    assert len(rows) == report["row_count"]
    assert sum(int(row[2]) for row in rows) == report["source_rows"] > 0
