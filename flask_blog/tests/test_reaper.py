"""The reaper, `delete_expired_exports` (beat, every minute), called as a plain function.

It leaves no export stuck (running, or queued, past the broker's redelivery
delay: a run killed with its worker is left to the redelivered message) and no
file behind (expired archives, partial files of killed runs), and never deletes
anything outside the export directory.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask

from blog.extensions import db
from blog.models import Export, ExportStatus, utcnow
from blog.settings import BlogSettings
from blog.tasks import delete_expired_exports
from shared.celery_app import visibility_timeout
from tests.conftest import AuthActions
from tests.factories import ExportFactory, UserFactory

SECOND = timedelta(seconds=1)


def _status(app: Flask, export_id: int) -> tuple[ExportStatus, str | None]:
    with app.app_context():
        export = db.session.get_one(Export, export_id)
        return export.status, export.error


def test_the_deadlines_follow_the_celery_limits_and_the_reaper_runs_every_minute() -> None:
    settings = BlogSettings(celery_task_time_limit=100)
    config = settings.flask_config()
    # A run whose worker died is redelivered after the visibility timeout, and resumed.
    assert config["EXPORT_RUN_DEADLINE"] == timedelta(seconds=visibility_timeout(settings) + 60)
    assert config["EXPORT_QUEUE_DEADLINE"] == timedelta(seconds=visibility_timeout(settings) + 60)
    assert config["CELERY"]["beat_schedule"]["delete-expired-exports"]["schedule"] == 60


def test_a_run_past_the_redelivery_delay_fails_counting_from_its_start(app: Flask) -> None:
    now, deadline = utcnow(), app.config["EXPORT_RUN_DEADLINE"]
    hard_limit = timedelta(seconds=app.extensions["celery"].conf.task_time_limit)
    with app.app_context():
        overdue = ExportFactory.create(
            status=ExportStatus.RUNNING,
            created_at=now - deadline,
            started_at=now - deadline - SECOND,
        ).id
        # Past the hard time limit, so its worker died: its message comes back, and
        # the run it starts finishes the export. Not the reaper's to fail yet.
        awaiting_redelivery = ExportFactory.create(
            status=ExportStatus.RUNNING,
            created_at=now - hard_limit * 2,
            started_at=now - hard_limit - timedelta(minutes=2),
        ).id
        # Queued for an hour, started moments ago: the time it waited does not count.
        long_queued = ExportFactory.create(
            status=ExportStatus.RUNNING,
            created_at=now - timedelta(hours=1),
            started_at=now - timedelta(seconds=10),
        ).id

    delete_expired_exports()

    assert _status(app, overdue) == (ExportStatus.FAILED, "The export stopped before it finished.")
    assert _status(app, long_queued) == (ExportStatus.RUNNING, None)
    assert _status(app, awaiting_redelivery) == (ExportStatus.RUNNING, None)


def test_a_request_no_worker_started_fails_after_the_redelivery_delay(app: Flask) -> None:
    now, deadline = utcnow(), app.config["EXPORT_QUEUE_DEADLINE"]
    with app.app_context():
        lost = ExportFactory.create(
            status=ExportStatus.PENDING, created_at=now - deadline - SECOND
        ).id
        # Queued longer than any run may last, but a dead worker's message is not
        # handed to another worker before the visibility timeout.
        waiting = ExportFactory.create(
            status=ExportStatus.PENDING, created_at=now - deadline + timedelta(minutes=1)
        ).id

    delete_expired_exports()

    assert _status(app, lost) == (ExportStatus.FAILED, "No worker started the export in time.")
    assert _status(app, waiting) == (ExportStatus.PENDING, None)


def test_a_failed_stuck_export_shows_why_and_can_be_retried(app: Flask, auth: AuthActions) -> None:
    now = utcnow()
    with app.app_context():
        export_id = ExportFactory.create(
            user=UserFactory.create(username="alice"),
            status=ExportStatus.RUNNING,
            started_at=now - app.config["EXPORT_RUN_DEADLINE"] - SECOND,
        ).id
    delete_expired_exports()

    auth.login("alice")
    html = auth.client.get(f"/account/exports/{export_id}").get_data(as_text=True)
    assert "The export stopped before it finished." in html
    assert "Try again" in html


def test_expired_exports_are_deleted_with_their_files(app: Flask) -> None:
    export_dir = Path(app.config["EXPORT_DIR"])
    (export_dir / "old.zip").write_bytes(b"zip")
    (export_dir / "new.zip").write_bytes(b"zip")
    now = utcnow()
    with app.app_context():
        old = ExportFactory.create(status=ExportStatus.READY, file_name="old.zip", expires_at=now)
        new = ExportFactory.create(
            status=ExportStatus.READY, file_name="new.zip", expires_at=now + timedelta(hours=1)
        )
        old_id, new_id = old.id, new.id

    assert delete_expired_exports() == 1

    assert [path.name for path in export_dir.iterdir()] == ["new.zip"]
    with app.app_context():
        assert db.session.get(Export, old_id) is None
        assert db.session.get(Export, new_id) is not None


def test_an_expired_file_name_outside_the_export_directory_deletes_nothing(
    app: Flask, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.zip"
    outside.write_bytes(b"not the blog's")
    now = utcnow()
    with app.app_context():
        for file_name in ("../outside.zip", str(outside)):
            ExportFactory.create(status=ExportStatus.READY, file_name=file_name, expires_at=now)

    assert delete_expired_exports() == 2
    assert outside.read_bytes() == b"not the blog's"


def test_partial_files_no_running_export_owns_are_deleted(app: Flask) -> None:
    export_dir = Path(app.config["EXPORT_DIR"])
    with app.app_context():
        running = ExportFactory.create(status=ExportStatus.RUNNING, started_at=utcnow()).id
        failed = ExportFactory.create(status=ExportStatus.FAILED).id
    kept = [
        f".export-{running}-0123abcd.zip.part",  # being written
        f"export-{failed}-0123abcd.zip",  # a whole archive (its row decides its fate)
        "notes.txt",  # not the blog's
    ]
    strays = [
        f".export-{failed}-0123abcd.zip.part",  # left by the run the reaper failed
        ".export-999999-0123abcd.zip.part",  # of an export that is gone
    ]
    for name in kept + strays:
        (export_dir / name).write_bytes(b"PK")

    delete_expired_exports()

    assert sorted(path.name for path in export_dir.iterdir()) == sorted(kept)
