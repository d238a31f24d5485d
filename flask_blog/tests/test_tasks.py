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
from celery import Celery
from flask import Flask, current_app, has_app_context

from blog import exports
from blog.archive import iter_posts, write_archive
from blog.extensions import db
from blog.models import Export, ExportStatus, User, utcnow
from blog.tasks import generate_user_archive
from shared.progress import ProgressReporter
from tests.factories import ExportFactory, PostFactory, UserFactory


@pytest.fixture
def send_email(monkeypatch: pytest.MonkeyPatch) -> MagicMock:
    mock = MagicMock()
    monkeypatch.setattr("blog.tasks.send_email.delay", mock)
    return mock


def _user_with_posts(app: Flask, count: int) -> tuple[int, int, list[str]]:
    with app.app_context():
        user = UserFactory.create(username="alice")
        posts = PostFactory.create_batch(count, author=user)
        export = ExportFactory.create(user=user)
        PostFactory.create(title="Someone else's post")
        return user.id, export.id, [post.title for post in posts]


def _after_each_post(monkeypatch: pytest.MonkeyPatch, hook: Callable[[int], object]) -> None:
    """Call `hook(n)` after the n-th post is written (and its progress reported)."""

    def write_and_hook(*args: Any, on_post: Callable[[int], object], **kwargs: Any) -> int:
        def on_post_then_hook(n: int) -> None:
            on_post(n)
            hook(n)

        return write_archive(*args, on_post=on_post_then_hook, **kwargs)

    monkeypatch.setattr("blog.tasks.write_archive", write_and_hook)


def test_the_task_pushes_its_own_app_context(app: Flask) -> None:
    with app.app_context():
        user_id = UserFactory.create(username="alice").id

    celery_app: Celery = app.extensions["celery"]

    @celery_app.task(name="tests.probe")
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
    # Unthrottled, so that every post is written to the row.
    monkeypatch.setattr("blog.tasks.ProgressReporter", partial(ProgressReporter, min_interval=0))
    _after_each_post(
        monkeypatch, lambda _: seen.append(db.session.get_one(Export, export_id).progress)
    )
    generate_user_archive(user_id)

    assert seen == [25, 50, 75, 99]
    with app.app_context():
        assert db.session.get(Export, export_id).progress == 100  # type: ignore[union-attr]


def test_a_failed_export_records_its_error_and_deletes_its_partial_file(
    app: Flask, send_email: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, export_id, _ = _user_with_posts(app, 2)
    export_dir = Path(app.config["EXPORT_DIR"])
    on_disk_when_it_failed: list[str] = []

    def disk_full(_: int) -> None:
        on_disk_when_it_failed.extend(path.name for path in export_dir.iterdir())
        raise OSError("disk full")

    _after_each_post(monkeypatch, disk_full)
    with pytest.raises(OSError, match="disk full"):
        generate_user_archive(user_id)

    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export is not None
        assert (export.status, export.error) == (ExportStatus.FAILED, "disk full")
    [partial_file] = on_disk_when_it_failed
    assert partial_file.startswith(f".export-{export_id}-")
    assert partial_file.endswith(".zip.part")
    assert list(export_dir.iterdir()) == []
    send_email.assert_not_called()


def test_a_run_deletes_what_a_killed_run_of_its_export_left_half_written(
    app: Flask, send_email: MagicMock
) -> None:
    user_id, export_id, _ = _user_with_posts(app, 1)
    export_dir = Path(app.config["EXPORT_DIR"])
    export_dir.mkdir(parents=True, exist_ok=True)
    killed_run = export_dir / f".export-{export_id}-0123456789abcdef.zip.part"
    other_export = export_dir / f".export-{export_id + 1}-0123456789abcdef.zip.part"
    killed_run.write_bytes(b"PK half an archive")
    other_export.write_bytes(b"PK another export's run")

    generate_user_archive(user_id)

    with app.app_context():
        export = db.session.get_one(Export, export_id)
    assert export.status is ExportStatus.READY
    assert export.file_name is not None
    assert sorted(path.name for path in export_dir.iterdir()) == sorted(
        [export.file_name, other_export.name]
    )


def test_a_run_records_its_start_and_counts_as_an_attempt(
    app: Flask, send_email: MagicMock
) -> None:
    user_id, export_id, _ = _user_with_posts(app, 1)
    before = utcnow()
    generate_user_archive(user_id)
    with app.app_context():
        export = db.session.get_one(Export, export_id)
        assert export.started_at is not None
        assert before <= export.started_at <= utcnow()
        assert export.attempts == 1


def test_redeliveries_run_until_the_limit(app: Flask, send_email: MagicMock) -> None:
    with app.app_context():
        user = UserFactory.create(username="alice")
        export_id = ExportFactory.create(
            user=user, status=ExportStatus.RUNNING, attempts=exports.MAX_ATTEMPTS - 1
        ).id
        user_id = user.id
    generate_user_archive(user_id)  # the last delivery allowed
    with app.app_context():
        export = db.session.get_one(Export, export_id)
        assert (export.status, export.attempts) == (ExportStatus.READY, exports.MAX_ATTEMPTS)


def test_a_delivery_past_the_limit_fails_the_export_without_running(
    app: Flask, send_email: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        user = UserFactory.create(username="alice")
        # Three deliveries started it and none finished: a message that kills its worker.
        export_id = ExportFactory.create(
            user=user, status=ExportStatus.RUNNING, attempts=exports.MAX_ATTEMPTS
        ).id
        user_id = user.id
    write = MagicMock()
    monkeypatch.setattr("blog.tasks.write_archive", write)

    generate_user_archive(user_id)

    write.assert_not_called()
    with app.app_context():
        export = db.session.get_one(Export, export_id)
        assert (export.status, export.error) == (
            ExportStatus.FAILED,
            "The export was tried 3 times and never finished.",
        )
        assert export.expires_at is not None
    send_email.assert_not_called()


def test_a_run_the_reaper_failed_meanwhile_changes_nothing(
    app: Flask, send_email: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, export_id, _ = _user_with_posts(app, 3)
    # The run hangs past its deadline after the first post, and the reaper fails it.
    app.config["EXPORT_RUN_DEADLINE"] = timedelta(0)
    _after_each_post(monkeypatch, lambda n: n == 1 and exports.fail_stuck(utcnow()))

    generate_user_archive(user_id)

    with app.app_context():
        export = db.session.get_one(Export, export_id)
        assert (export.status, export.error, export.file_name) == (
            ExportStatus.FAILED,
            "The export stopped before it finished.",
            None,
        )
    assert list(Path(app.config["EXPORT_DIR"]).iterdir()) == []  # its archive is not left behind
    send_email.assert_not_called()


def test_a_run_a_newer_one_took_over_changes_nothing(
    app: Flask, send_email: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, export_id, _ = _user_with_posts(app, 3)
    newer: list[exports.Run | None] = []

    def second_delivery(posts_written: int) -> None:
        # After the first post, a second delivery of the message starts a newer run.
        if posts_written == 1:
            newer.append(exports.claim(user_id))

    _after_each_post(monkeypatch, second_delivery)

    generate_user_archive(user_id)

    with app.app_context():
        export = db.session.get_one(Export, export_id)
        # Still the newer run's: not finished, no progress, no file from the older run.
        assert (export.status, export.progress, export.file_name) == (ExportStatus.RUNNING, 0, None)
        assert newer[0] is not None
        assert (export.started_at, export.attempts) == (newer[0].started_at, 2)
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
