"""The task bodies, called as plain functions: no broker, no worker.

Calling a task object runs `FlaskTask.__call__`, so these tests start outside
any app context and rely on the task to push one, as it does in the worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock
from zipfile import ZipFile

import pytest
from flask import Flask, current_app, has_app_context

from blog.archive import iter_posts, write_archive
from blog.extensions import db
from blog.models import Export, ExportStatus, User, utcnow
from blog.tasks import delete_expired_exports, generate_user_archive
from shared.progress import ProgressReporter
from tests.factories import ExportFactory, PostFactory, UserFactory


@pytest.fixture
def send_email(monkeypatch: pytest.MonkeyPatch) -> MagicMock:
    mock = MagicMock()
    monkeypatch.setattr("blog.tasks.send_email.delay", mock)
    return mock


def _user_with_posts(app: Flask, count: int) -> tuple[int, int, list[str]]:
    with app.app_context():
        user = UserFactory(username="alice")
        posts = PostFactory.create_batch(count, author=user)
        export = ExportFactory(user=user)
        PostFactory(title="Someone else's post")
        return user.id, export.id, [post.title for post in posts]


def test_the_task_pushes_its_own_app_context(app: Flask) -> None:
    with app.app_context():
        user_id = UserFactory(username="alice").id

    @app.extensions["celery"].task(name="tests.probe")
    def probe(user_id: int) -> tuple[str, str]:
        user = db.session.get(User, user_id)
        assert user is not None
        return current_app.config["SQLALCHEMY_DATABASE_URI"], user.username

    assert not has_app_context()
    assert probe(user_id) == (app.config["SQLALCHEMY_DATABASE_URI"], "alice")


def test_archive_holds_the_profile_and_every_post(app: Flask, send_email: MagicMock) -> None:
    user_id, export_id, titles = _user_with_posts(app, 12)

    generate_user_archive(user_id)

    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export is not None
        assert (export.status, export.progress, export.error) == (ExportStatus.READY, 100, None)
        assert export.expires_at is not None
        assert export.expires_at > utcnow() + timedelta(hours=23)
        path = Path(app.config["EXPORT_DIR"]) / str(export.file_name)
    with ZipFile(path) as archive:
        assert archive.testzip() is None
        profile = json.loads(archive.read("profile.json"))
        posts = json.loads(archive.read("posts.json"))
        markdown = [
            archive.read(name).decode() for name in archive.namelist() if name.endswith(".md")
        ]
    assert (profile["username"], profile["posts"]) == ("alice", 12)
    assert [post["title"] for post in posts] == titles
    assert len(markdown) == 12
    for title, post, text in zip(titles, posts, markdown, strict=True):
        assert text.startswith(f"# {title}\n")
        assert post["body"] in text
    send_email.assert_called_once()
    assert send_email.call_args.args[0] == "alice@example.com"
    assert f"/account/exports/{export_id}" in send_email.call_args.args[2]


def test_progress_is_saved_in_the_row_and_reaches_100_only_when_ready(
    app: Flask, send_email: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, export_id, _ = _user_with_posts(app, 4)
    seen: list[int] = []

    def write_and_watch(*args: Any, on_post: Callable[[int], object], **kwargs: Any) -> int:
        def watch(n: int) -> None:
            on_post(n)
            seen.append(db.session.get(Export, export_id).progress)  # type: ignore[union-attr]

        return write_archive(*args, on_post=watch, **kwargs)

    # Unthrottled, so that every post is written to the row.
    monkeypatch.setattr("blog.tasks.ProgressReporter", partial(ProgressReporter, min_interval=0))
    monkeypatch.setattr("blog.tasks.write_archive", write_and_watch)
    generate_user_archive(user_id)

    assert seen == [25, 50, 75, 99]
    with app.app_context():
        assert db.session.get(Export, export_id).progress == 100  # type: ignore[union-attr]


def test_a_failed_export_records_its_error(
    app: Flask, send_email: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, export_id, _ = _user_with_posts(app, 2)
    monkeypatch.setattr("blog.tasks.write_archive", MagicMock(side_effect=OSError("disk full")))

    with pytest.raises(OSError, match="disk full"):
        generate_user_archive(user_id)

    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export is not None
        assert (export.status, export.error) == (ExportStatus.FAILED, "disk full")
    assert list(Path(app.config["EXPORT_DIR"]).iterdir()) == []
    send_email.assert_not_called()


def test_running_it_again_changes_nothing(app: Flask, send_email: MagicMock) -> None:
    user_id, export_id, _ = _user_with_posts(app, 1)
    generate_user_archive(user_id)
    generate_user_archive(user_id)  # a redelivery: no export in progress any more
    with app.app_context():
        assert db.session.get(Export, export_id).status is ExportStatus.READY  # type: ignore[union-attr]
    send_email.assert_called_once()


def test_posts_are_read_in_batches(app: Flask) -> None:
    user_id, _, titles = _user_with_posts(app, 5)
    with app.app_context():
        assert [post.title for post in iter_posts(user_id, batch_size=2)] == titles


def test_expired_exports_are_deleted_with_their_files(app: Flask) -> None:
    export_dir = Path(app.config["EXPORT_DIR"])
    (export_dir / "old.zip").write_bytes(b"zip")
    (export_dir / "new.zip").write_bytes(b"zip")
    now = utcnow()
    with app.app_context():
        old = ExportFactory(status=ExportStatus.READY, file_name="old.zip", expires_at=now)
        new = ExportFactory(
            status=ExportStatus.READY, file_name="new.zip", expires_at=now + timedelta(hours=1)
        )
        stale = ExportFactory(status=ExportStatus.RUNNING, created_at=now - timedelta(hours=1))
        old_id, new_id, stale_id = old.id, new.id, stale.id

    assert delete_expired_exports() == 1

    assert [path.name for path in export_dir.iterdir()] == ["new.zip"]
    with app.app_context():
        assert db.session.get(Export, old_id) is None
        assert db.session.get(Export, new_id) is not None
        stale = db.session.get(Export, stale_id)
        assert (stale.status, stale.error) == (
            ExportStatus.FAILED,
            "The export did not finish in time.",
        )
