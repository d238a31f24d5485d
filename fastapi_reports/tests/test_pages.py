"""The pages: sign-in, the request form with its errors, a report's progress page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from unittest.mock import MagicMock

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reports import service
from reports.models import Report, User

MakeReport = Callable[..., Report]
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
def task(monkeypatch: pytest.MonkeyPatch) -> MagicMock:
    mock = MagicMock()
    monkeypatch.setattr(service, "build_report", mock)
    return mock


def test_home_links_to_the_other_apps(client: TestClient) -> None:
    page = client.get("/").text
    for url in ("http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:5555"):
        assert f'href="{url}"' in page


def test_reports_need_a_sign_in(client: TestClient) -> None:
    response = client.get("/reports", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_register_then_sign_out_and_in(client: TestClient, session: Session) -> None:
    form = {"username": "carol", "password": "longenough"}
    response = client.post("/register", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert "Sign out carol" in client.get("/reports").text
    client.post("/logout")
    assert client.get("/reports", follow_redirects=False).status_code == 303
    wrong = client.post("/login", data={"username": "carol", "password": "nope"})
    assert (wrong.status_code, "Wrong username or password." in wrong.text) == (422, True)
    assert client.post("/login", data=form, follow_redirects=False).is_redirect


def test_register_explains_refusals(client: TestClient, bob: User) -> None:
    short = client.post("/register", data={"username": "dave", "password": "short"})
    assert "at least 8 characters" in short.text
    taken = client.post("/register", data={"username": "bob", "password": "longenough"})
    assert "That username is taken" in taken.text


def test_form_errors_are_shown_next_to_the_fields(
    client: TestClient, alice: User, task: MagicMock
) -> None:
    form = {
        "report_type": "sales_chart",
        "format": "csv",
        "date_from": "2024-06-01",
        "date_to": "2024-05-01",
        "period": "month",
    }
    response = client.post("/reports", data=form)
    assert response.status_code == 422
    assert "a sales_chart report can be built as png, not csv" in response.text
    assert "the end date must be on or after the start date (2024-06-01)" in response.text
    assert 'value="2024-06-01"' in response.text  # what was typed is kept
    task.apply_async.assert_not_called()


def test_form_queues_the_report_and_shows_its_page(
    client: TestClient, alice: User, session: Session, task: MagicMock
) -> None:
    form = {
        "report_type": "sales_summary",
        "format": "xlsx",
        "date_from": (TODAY - dt.timedelta(days=60)).isoformat(),
        "date_to": TODAY.isoformat(),
        "period": "week",
    }
    response = client.post("/reports", data=form)
    report = session.scalars(select(Report)).one()
    task.apply_async.assert_called_once_with((report.id,), task_id=report.task_id)
    assert response.url.path == f"/reports/{report.id}"
    assert f'data-events="/api/reports/{report.id}/events"' in response.text
    assert f'href="/reports/{report.id}"' in client.get("/reports").text


def test_someone_elses_report_page_is_not_found(
    client: TestClient, alice: User, bob: User, make_report: MakeReport
) -> None:
    theirs = make_report(bob)
    assert client.get(f"/reports/{theirs.id}").status_code == 404
    client.post(f"/reports/{theirs.id}/cancel")
    assert client.get(f"/api/reports/{theirs.id}").status_code == 404


def test_cancel_button(
    client: TestClient, alice: User, session: Session, make_report: MakeReport
) -> None:
    report = make_report(alice)
    response = client.post(f"/reports/{report.id}/cancel")
    assert response.url.path == f"/reports/{report.id}"
    session.refresh(report)
    assert report.status == "cancelled"


def test_retry_button(
    client: TestClient, alice: User, session: Session, make_report: MakeReport, task: MagicMock
) -> None:
    report = make_report(alice, status="failed", message="The report could not be built.")
    page = client.get(f"/reports/{report.id}").text
    assert f'<form method="post" action="/reports/{report.id}/retry" id="retry"' in page
    response = client.post(f"/reports/{report.id}/retry")
    assert response.url.path == f"/reports/{report.id}"
    session.refresh(report)
    assert report.status == "pending"
    task.apply_async.assert_called_once_with((report.id,), task_id=report.task_id)
