"""The task timeline of an export: recorded in its own rows, shown to its owner only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import signals
from flask import Flask
from flask.testing import FlaskClient

from blog.extensions import db
from blog.models import Export, ExportEvent, ExportStatus, Post, utcnow
from blog.tasks import delete_expired_exports, generate_user_archive
from blog.timeline import ARCHIVE_TASK, record
from shared.timeline import COMMITTED_AT, COMMITTED_DETAIL, PUBLISHED_AT, Event, Kind
from tests.conftest import AuthActions
from tests.factories import ExportEventFactory, ExportFactory, UserFactory


def _kinds(app: Flask, export_id: int) -> list[str]:
    with app.app_context():
        return [e.kind.value for e in db.session.get_one(Export, export_id).events]


def test_the_timeline_names_the_registered_archive_task(app: Flask) -> None:
    assert generate_user_archive.name == ARCHIVE_TASK
    assert ARCHIVE_TASK in app.extensions["celery"].tasks


def test_starting_an_export_writes_no_event_and_stamps_the_commit_before_the_publish(
    app: Flask, auth: AuthActions
) -> None:
    stamped: list[dict[str, Any]] = []

    def capture(headers: dict[str, Any] | None = None, **_: Any) -> None:
        stamped.append(dict(headers or {}))

    # Connected after the timeline's receiver (create_app): it sees its stamps.
    signals.before_task_publish.connect(capture)
    try:
        with app.app_context():
            UserFactory.create(username="alice")
        auth.login("alice")
        page = auth.post("/account/exports", form="/account/").headers["Location"]
    finally:
        signals.before_task_publish.disconnect(capture)
    export_id = int(page.rsplit("/", 1)[1])

    assert _kinds(app, export_id) == []  # the worker writes every event
    [headers] = [h for h in stamped if h.get("task") == ARCHIVE_TASK]
    assert headers[COMMITTED_AT] <= headers[PUBLISHED_AT]
    assert headers[COMMITTED_DETAIL] == f"export {export_id} saved as pending"


def test_an_event_goes_on_the_users_latest_request(app: Flask) -> None:
    with app.app_context():
        user = UserFactory.create(username="alice")
        now = utcnow()
        older = ExportFactory.create(user=user, created_at=now - timedelta(hours=2)).id
        # Asked for again (Try again sets created_at anew): the task works on this one.
        retried = ExportFactory.create(
            user=user, status=ExportStatus.FAILED, created_at=now - timedelta(hours=3)
        )
        retried.created_at = now
        db.session.commit()
        retried_id, user_id = retried.id, user.id
        UserFactory.create(username="bob")

    record(Event(user_id, Kind.COMMITTED, utcnow()))

    assert _kinds(app, retried_id) == ["committed"]
    assert _kinds(app, older) == []


def test_recording_commits_in_its_own_session_never_the_callers(app: Flask) -> None:
    with app.app_context():
        user = UserFactory.create(username="alice")
        export_id = ExportFactory.create(user=user).id
        # The caller's work in progress, as a task's or a view's would be.
        db.session.add(Post(author_id=user.id, title="Not yet", body="uncommitted"))
        record(Event(user.id, Kind.COMMITTED, utcnow(), detail="x" * 600))
        db.session.rollback()

        assert db.session.scalar(db.select(db.func.count()).select_from(Post)) == 0
        [event] = db.session.get_one(Export, export_id).events
        assert event.kind is Kind.COMMITTED
        assert event.detail == "x" * 500  # cut to the column's length


def test_the_page_shows_the_timeline_oldest_first(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    at = utcnow().replace(microsecond=120_000)
    with app.app_context():
        export = ExportFactory.create(user=UserFactory.create(username="alice"))
        for offset, kind, detail in (
            (1.5, Kind.PUBLISHED, ""),
            (0.0, Kind.COMMITTED, "export saved"),
            (1.75, Kind.RECEIVED, "by blog@host"),
        ):
            ExportEventFactory.create(
                export=export, kind=kind, at=at + timedelta(seconds=offset), detail=detail
            )
        export_id = export.id
    auth.login("alice")

    html = client.get(f"/account/exports/{export_id}").get_data(as_text=True)

    assert "<caption>Task timeline</caption>" in html
    rows = html.split('<tr data-kind="')[1:]
    assert [row.split('"', 1)[0] for row in rows] == ["committed", "published", "received"]
    assert f"{at:%H:%M:%S}.120" in rows[0]
    assert "+1.500 s" in rows[1]
    assert "+0.250 s" in rows[2]
    assert "by blog@host" in rows[2]
    assert "01234567<" in rows[0]  # the short task id


def test_another_user_sees_neither_the_page_nor_its_timeline(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    with app.app_context():
        event = ExportEventFactory.create(
            export=ExportFactory.create(user=UserFactory.create(username="alice")),
            detail="alice's secret detail",
        )
        export_id = event.export_id
        UserFactory.create(username="mallory")
    auth.login("mallory")

    response = client.get(f"/account/exports/{export_id}")

    assert response.status_code == 404
    assert "alice's secret detail" not in response.get_data(as_text=True)


@pytest.mark.parametrize("how", ["reaper", "session"])
def test_an_export_deleted_takes_its_events(app: Flask, how: str) -> None:
    now = utcnow()
    with app.app_context():
        expired = ExportFactory.create(status=ExportStatus.READY, expires_at=now)
        kept = ExportFactory.create(status=ExportStatus.READY, expires_at=now + timedelta(hours=1))
        for export in (expired, kept):
            ExportEventFactory.create_batch(2, export=export)
        kept_id = kept.id
        if how == "session":
            db.session.delete(expired)
            db.session.commit()
    if how == "reaper":
        assert delete_expired_exports() == 1

    with app.app_context():
        owners = db.session.scalars(db.select(ExportEvent.export_id)).all()
        assert owners == [kept_id, kept_id]
