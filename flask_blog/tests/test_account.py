"""The export views, with the task mocked: what a user may see, start, download and retry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from flask import Flask
from flask.testing import FlaskClient
from kombu.exceptions import OperationalError

from blog import exports
from blog.extensions import db
from blog.models import Export, ExportStatus, User, utcnow
from tests.conftest import AuthActions
from tests.factories import ExportFactory, UserFactory


@pytest.fixture
def delay(monkeypatch: pytest.MonkeyPatch) -> MagicMock:
    mock = MagicMock()
    monkeypatch.setattr("blog.account.generate_user_archive.delay", mock)
    return mock


@pytest.fixture
def alice(app: Flask, auth: AuthActions) -> int:
    with app.app_context():
        user_id: int = UserFactory.create(username="alice").id
    auth.login("alice")
    return user_id


def _ready_export(app: Flask, user_id: int, *, expires_in: timedelta = timedelta(hours=1)) -> int:
    Path(app.config["EXPORT_DIR"], "export.zip").write_bytes(b"PK-archive")
    with app.app_context():
        export = ExportFactory.create(
            user=db.session.get(User, user_id),
            status=ExportStatus.READY,
            progress=100,
            file_name="export.zip",
            expires_at=utcnow() + expires_in,
        )
        return int(export.id)


def test_export_my_data_queues_the_user_id(
    app: Flask, auth: AuthActions, alice: int, delay: MagicMock
) -> None:
    response = auth.post("/account/exports", form="/account/")
    delay.assert_called_once_with(alice)
    with app.app_context():
        export = db.session.scalar(db.select(Export))
        assert export is not None
        assert (export.user_id, export.status) == (alice, ExportStatus.PENDING)
    assert response.headers["Location"] == f"/account/exports/{export.id}"


def test_asking_again_returns_the_running_export(
    app: Flask, auth: AuthActions, alice: int, delay: MagicMock
) -> None:
    first = auth.post("/account/exports", form="/account/").headers["Location"]
    second = auth.post("/account/exports", form="/account/").headers["Location"]
    assert first == second
    delay.assert_called_once()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Export)) == 1


def test_status_is_json_with_a_download_link_when_ready(
    app: Flask, client: FlaskClient, alice: int
) -> None:
    export_id = _ready_export(app, alice)
    body = client.get(f"/account/exports/{export_id}/status").get_json()
    assert body["status"] == "ready"
    assert body["progress"] == 100
    assert body["download_url"] == f"/account/exports/{export_id}/download"


def test_the_owner_downloads_the_archive(app: Flask, client: FlaskClient, alice: int) -> None:
    with client.get(f"/account/exports/{_ready_export(app, alice)}/download") as response:
        assert response.status_code == 200
        assert response.data == b"PK-archive"
        assert "alice-blog-archive.zip" in response.headers["Content-Disposition"]


def test_an_expired_archive_is_gone(app: Flask, client: FlaskClient, alice: int) -> None:
    export_id = _ready_export(app, alice, expires_in=timedelta(seconds=-1))
    assert client.get(f"/account/exports/{export_id}/download").status_code == 404


@pytest.mark.parametrize("file_name", ["../outside.zip", "{outside}", "../../../../etc/passwd"])
def test_a_download_never_leaves_the_export_directory(
    app: Flask, client: FlaskClient, alice: int, tmp_path: Path, file_name: str
) -> None:
    outside = tmp_path / "outside.zip"  # next to the export directory
    outside.write_bytes(b"not an archive of alice's")
    with app.app_context():
        export_id = ExportFactory.create(
            user=db.session.get(User, alice),
            status=ExportStatus.READY,
            file_name=file_name.format(outside=outside),
            expires_at=utcnow() + timedelta(hours=1),
        ).id
    assert client.get(f"/account/exports/{export_id}/download").status_code == 404


def test_a_failed_export_shows_its_error_and_can_be_retried(
    app: Flask, client: FlaskClient, auth: AuthActions, alice: int, delay: MagicMock
) -> None:
    with app.app_context():
        user = db.session.get(User, alice)
        export_id = ExportFactory.create(
            user=user,
            status=ExportStatus.FAILED,
            error="disk full",
            started_at=utcnow(),
            attempts=exports.MAX_ATTEMPTS + 1,
        ).id
    page = f"/account/exports/{export_id}"
    assert "disk full" in client.get(page).get_data(as_text=True)

    assert auth.post(f"{page}/retry", form=page).headers["Location"] == page

    delay.assert_called_once_with(alice)
    body = client.get(f"{page}/status").get_json()
    assert (body["status"], body["error"]) == ("pending", None)
    with app.app_context():
        export = db.session.get_one(Export, export_id)
        assert (export.started_at, export.attempts) == (None, 0)  # a new request, new attempts


def test_a_broker_outage_fails_the_export_instead_of_the_request(
    app: Flask, client: FlaskClient, auth: AuthActions, alice: int, delay: MagicMock
) -> None:
    delay.side_effect = OperationalError("connection refused")
    location = auth.post("/account/exports", form="/account/").headers["Location"]
    body = client.get(f"{location}/status").get_json()
    assert (body["status"], body["error"]) == ("failed", "The export could not be queued.")
