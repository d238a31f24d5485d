"""The reports API, with the Celery task replaced by a mock: no broker, no worker."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from fastapi.testclient import TestClient
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from reports import service
from reports.api.routes import reports as reports_api
from reports.config import settings
from reports.db import SessionLocal, engine
from reports.models import AuditEvent, Report, ReportStatus, User
from reports.tasks import build_report

MakeReport = Callable[..., Report]
ReadEvents = Callable[[int], list[dict[str, Any]]]
TODAY = dt.datetime.now(dt.UTC).date()
REQUEST = {
    "report_type": "sales_summary",
    "format": "csv",
    "date_from": (TODAY - dt.timedelta(days=30)).isoformat(),
    "date_to": TODAY.isoformat(),
}


@pytest.fixture
def task(monkeypatch: pytest.MonkeyPatch) -> MagicMock:
    mock = MagicMock()
    monkeypatch.setattr(service, "build_report", mock)
    return mock


def test_create_queues_the_report_id_and_answers_202(
    client: TestClient, alice: User, session: Session, task: MagicMock
) -> None:
    response = client.post("/api/reports", json=REQUEST)
    assert response.status_code == 202
    body = response.json()
    assert response.headers["location"] == f"http://testserver/api/reports/{body['id']}"
    assert (body["status"], body["percent"], body["period"]) == ("pending", 0, "month")
    # Only the id crosses the broker, and only after the row was committed, with the
    # message's id: the runs of this message, and no other, may build the report.
    report = session.get_one(Report, body["id"])
    task.apply_async.assert_called_once_with((report.id,), task_id=report.task_id)
    assert report.owner_id == alice.id


def test_the_request_is_audited_after_the_response(
    client: TestClient, alice: User, session: Session, task: MagicMock
) -> None:
    response = client.post("/api/reports", json=REQUEST, headers={"X-Request-ID": "req-42"})
    requested = select(AuditEvent).where(AuditEvent.action == "report.requested")
    event = session.scalars(requested).one()
    assert event.user_id == alice.id
    assert (event.report_id, event.request_id) == (response.json()["id"], "req-42")


def test_validation_errors_say_what_to_fix(
    client: TestClient, alice: User, task: MagicMock
) -> None:
    bad = {**REQUEST, "format": "png", "date_from": TODAY.isoformat(), "date_to": "2020-01-01"}
    response = client.post("/api/reports", json=bad)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "format"],
            "msg": "a sales_summary report can be built as csv, xlsx, not png",
            "type": "value_error",
        },
        {
            "loc": ["body", "date_to"],
            "msg": f"the end date must be on or after the start date ({TODAY})",
            "type": "value_error",
        },
    ]
    task.apply_async.assert_not_called()


def test_requests_need_a_signed_in_user(client: TestClient, task: MagicMock) -> None:
    assert client.post("/api/reports", json=REQUEST).status_code == 401
    assert client.get("/api/reports").status_code == 401
    task.apply_async.assert_not_called()


def test_broker_down_answers_503_and_fails_the_row(
    client: TestClient, alice: User, session: Session, task: MagicMock
) -> None:
    task.apply_async.side_effect = BrokerError("connection refused")
    response = client.post("/api/reports", json=REQUEST)
    assert response.status_code == 503
    report = session.scalars(select(Report)).one()
    assert report.status == ReportStatus.FAILED


def test_list_and_read_show_only_my_reports(
    client: TestClient, alice: User, bob: User, make_report: MakeReport
) -> None:
    mine = make_report(alice)
    theirs = make_report(bob)
    assert [r["id"] for r in client.get("/api/reports").json()] == [mine.id]
    assert client.get(f"/api/reports/{mine.id}").json()["status"] == "pending"
    for path in ("", "/events", "/download"):
        assert client.get(f"/api/reports/{theirs.id}{path}").status_code == 404
    assert client.post(f"/api/reports/{theirs.id}/cancel").status_code == 404


def test_download_waits_for_done_then_serves_the_file(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    report = make_report(alice)
    assert client.get(f"/api/reports/{report.id}/download").status_code == 409
    build_report(report.id)
    response = client.get(f"/api/reports/{report.id}/download")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert f'filename="sales_summary-{report.date_from}-{report.date_to}.csv"' in disposition
    assert response.text.startswith("period,region,orders,quantity,amount\r\n")


def test_cancel_a_pending_report_once(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    report = make_report(alice)
    response = client.post(f"/api/reports/{report.id}/cancel")
    assert (response.status_code, response.json()["status"]) == (202, "cancelled")
    assert client.post(f"/api/reports/{report.id}/cancel").status_code == 409


def test_events_of_a_finished_report_end_at_once(
    events_of: ReadEvents, alice: User, make_report: MakeReport
) -> None:
    report = make_report(alice, status=ReportStatus.DONE)
    assert [event["status"] for event in events_of(report.id)] == ["done"]


def test_events_follow_progress_and_end_when_the_report_finishes(
    events_of: ReadEvents, alice: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports_api, "POLL_SECONDS", 0.02)
    report = make_report(alice, status=ReportStatus.RUNNING, progress_total=10)

    def build() -> None:
        for values in ({"progress_current": 5}, {"progress_current": 10, "status": "done"}):
            time.sleep(0.5)  # the stream polls every 0.02 s: room for a loaded machine
            with SessionLocal.begin() as session:
                session.execute(update(Report).values(**values))

    worker = threading.Thread(target=build)
    worker.start()
    events = events_of(report.id)
    worker.join()
    assert [(event["status"], event["percent"]) for event in events] == [
        ("running", 0),
        ("running", 50),
        ("done", 100),
    ]


def test_an_open_event_stream_holds_no_database_connection(
    client: TestClient, alice: User, make_report: MakeReport
) -> None:
    report = make_report(alice, status=ReportStatus.RUNNING)
    with client.stream("GET", f"/api/reports/{report.id}/events") as response:
        lines = response.iter_lines()
        assert next(lines) == "event: progress"
        # The request's session closed when the handler returned (SessionDep's scope).
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.checkedout() == 0
        with SessionLocal.begin() as session:
            session.execute(update(Report).values(status=ReportStatus.DONE))
        assert '"status":"done"' in "".join(lines)


def test_retry_queues_a_failed_report_again_as_a_new_message(
    client: TestClient, alice: User, session: Session, make_report: MakeReport, task: MagicMock
) -> None:
    report = make_report(alice, status=ReportStatus.FAILED, task_id="the-first", attempts=2)
    response = client.post(f"/api/reports/{report.id}/retry")
    assert (response.status_code, response.json()["status"]) == (202, "pending")
    session.refresh(report)
    assert (report.attempts, report.started_at, report.finished_at) == (0, None, None)
    assert report.task_id not in {None, "the-first"}
    task.apply_async.assert_called_once_with((report.id,), task_id=report.task_id)


@pytest.mark.parametrize("status", ["pending", "running", "done", "cancelled"])
def test_only_a_failed_report_can_be_retried(
    client: TestClient, alice: User, make_report: MakeReport, task: MagicMock, status: str
) -> None:
    report = make_report(alice, status=status, started_at=dt.datetime.now(dt.UTC))
    assert client.post(f"/api/reports/{report.id}/retry").status_code == 409
    task.apply_async.assert_not_called()


def test_retry_with_the_broker_down_answers_503_and_stays_failed(
    client: TestClient, alice: User, session: Session, make_report: MakeReport, task: MagicMock
) -> None:
    task.apply_async.side_effect = BrokerError("connection refused")
    report = make_report(alice, status=ReportStatus.FAILED)
    assert client.post(f"/api/reports/{report.id}/retry").status_code == 503
    session.refresh(report)
    assert (report.status, report.message) == ("failed", "Could not be queued: try again.")


@pytest.fixture
def outside_file() -> Iterator[Path]:
    """A file next to the files directory, where no download may reach."""
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    secret = settings.files_dir.parent / "secret.csv"
    secret.write_text("not a report")
    link = settings.files_dir / "link-out.csv"
    link.symlink_to(secret)
    yield secret
    link.unlink()
    secret.unlink()


@pytest.mark.parametrize(
    "stored_name",
    ["../secret.csv", "{outside}", "link-out.csv", "./../secret.csv", "gone.csv", "", "."],
)
def test_a_download_never_leaves_the_files_directory(
    client: TestClient, alice: User, make_report: MakeReport, outside_file: Path, stored_name: str
) -> None:
    file_name = stored_name.format(outside=outside_file)  # an absolute path
    report = make_report(alice, status=ReportStatus.DONE, file_name=file_name)
    response = client.get(f"/api/reports/{report.id}/download")
    assert response.status_code == 404
    assert "not a report" not in response.text
