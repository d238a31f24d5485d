"""The whole path with real processes: Redis, a `celery worker` loading make_celery.py, SMTP.

The test process and the worker share one database file (or the Postgres
test database) and one export directory, as the web app and the worker do.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zipfile import ZipFile

import pytest
from flask import Flask
from flask.testing import FlaskClient

from blog.extensions import db
from blog.models import Export
from shared.testing import SmtpSink, start_worker, wait_until
from tests.conftest import AuthActions
from tests.factories import PostFactory, UserFactory

pytestmark = pytest.mark.integration

BLOG_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        **app_config,
        "EXPORT_DIR": tmp_path / "var" / "blog" / "exports",
        "CELERY": {"broker_url": f"{redis_url}/0", "result_backend": f"{redis_url}/1"},
    }


@pytest.fixture
def worker(
    app: Flask, redis_url: str, database_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> Iterator[None]:
    env = {
        "BLOG_SECRET_KEY": "test",
        "BLOG_DATABASE_URL": database_url,
        "VAR_DIR": str(tmp_path / "var"),
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "CELERY_RESULT_BACKEND_URL": f"{redis_url}/1",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_sink.port),
    }
    with start_worker("make_celery", queue="blog", cwd=BLOG_DIR, env=env):
        yield


@pytest.mark.usefixtures("worker")
def test_export_runs_on_a_real_worker_and_emails_the_link(
    app: Flask, client: FlaskClient, auth: AuthActions, smtp_sink: SmtpSink
) -> None:
    with app.app_context():
        titles = [
            post.title
            for post in PostFactory.create_batch(3, author=UserFactory.create(username="alice"))
        ]
    auth.login("alice")

    page = auth.post("/account/exports", form="/account/").headers["Location"]

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"{page}/status").get_json()
        return body if body["status"] in ("ready", "failed") else None

    status = wait_until(finished, timeout=30, interval=0.2)
    assert (status["status"], status["progress"]) == ("ready", 100), status
    with client.get(status["download_url"]) as response:
        archive = ZipFile(io.BytesIO(response.data))
    text = "".join(archive.read(name).decode() for name in archive.namelist())
    assert all(title in text for title in titles)

    email = smtp_sink.wait_for(lambda message: message["To"] == "alice@example.com")
    assert email["Subject"] == "Your blog archive is ready"
    assert page in email.get_payload()


@pytest.mark.usefixtures("worker")
def test_health_worker_reaches_the_blog_worker(client: FlaskClient) -> None:
    response = client.get("/health/worker")
    assert response.status_code == 200, response.get_json()
    worker = response.get_json()["checks"][2]
    assert worker["name"] == "worker"
    assert "'app': 'blog'" in worker["detail"]
    assert "blog-test-" in worker["detail"]


def _timeline(app: Flask, export_page: str) -> list[tuple[str, str, str]]:
    """(kind, task id, detail) of the export's events, oldest first."""
    with app.app_context():
        export = db.session.get_one(Export, int(export_page.rsplit("/", 1)[1]))
        return [(e.kind.value, e.task_id, e.detail) for e in export.events]


def _kinds(app: Flask, export_page: str) -> list[str]:
    return [kind for kind, _, _ in _timeline(app, export_page)]


@pytest.mark.usefixtures("worker")
def test_the_timeline_of_an_export_on_a_real_worker(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    with app.app_context():
        PostFactory.create_batch(4, author=UserFactory.create(username="alice"))
    auth.login("alice")

    page = auth.post("/account/exports", form="/account/").headers["Location"]

    wait_until(lambda: "succeeded" in _kinds(app, page), timeout=30, interval=0.2)
    events = _timeline(app, page)
    # The first post is a quarter of the way; 0 % and 100 % are the start and the success.
    assert [kind for kind, _, _ in events] == [
        "committed",
        "published",
        "received",
        "started",
        "progress",
        "succeeded",
    ]
    assert len({task_id for _, task_id, _ in events[1:]}) == 1
    assert events[2][2].startswith("by blog-test-")
    assert events[3][2].startswith("attempt 1 on blog-test-")
    assert events[4][2] == "25 %: 1 of 4 posts"
    html = client.get(page).get_data(as_text=True)
    assert html.count("<tr data-kind=") == 6


@pytest.mark.usefixtures("worker")
def test_a_failing_archive_records_failed_with_the_error(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    with app.app_context():
        UserFactory.create(username="alice")
    auth.login("alice")
    # The worker's export directory is gone, and a file is in its place.
    export_dir = Path(app.config["EXPORT_DIR"])
    shutil.rmtree(export_dir)
    export_dir.write_bytes(b"not a directory")

    page = auth.post("/account/exports", form="/account/").headers["Location"]

    wait_until(lambda: "failed" in _kinds(app, page), timeout=30, interval=0.2)
    kinds = _kinds(app, page)
    assert kinds == ["committed", "published", "received", "started", "failed"]
    assert _timeline(app, page)[-1][2].startswith("NotADirectoryError: ")
