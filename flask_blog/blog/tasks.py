"""The blog's tasks. They get ids, load what they need, and run inside the app context.

`FlaskTask` (celery_app.py) pushes the app context around every task, which is
why `db.session` and `current_app` work here exactly as in a view.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Task, shared_task
from flask import current_app
from sqlalchemy import func, select

from blog.archive import iter_posts, write_archive
from blog.extensions import db
from blog.models import ACTIVE, Export, ExportStatus, Post, User, utcnow
from blog.urls import external_url
from shared.celery_app import IDEMPOTENT
from shared.progress import Progress, ProgressReporter, percent
from shared.tasks import send_email

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=False)
def ping(self: Task) -> dict[str, Any]:
    """Answer /health/worker: proves a worker consumes the blog queue."""
    return {"app": "blog", "worker": self.request.hostname}


@shared_task(bind=True, **IDEMPOTENT)
def generate_user_archive(self: Task, user_id: int) -> None:
    """Build the archive of the user's export in progress, if there is one.

    A user has at most one export in progress (a unique index keeps it so), so
    the user id is all the task needs. Running it twice rewrites the same file.
    """
    export = db.session.scalar(
        select(Export).where(Export.user_id == user_id, Export.status.in_(ACTIVE))
    )
    if export is None:
        logger.info("no export in progress for user %s", user_id)
        return
    export.status, export.progress, export.error = ExportStatus.RUNNING, 0, None
    db.session.commit()
    try:
        file_name = _write_archive(self, export)
    except Exception as exc:
        db.session.rollback()
        _finish(export, ExportStatus.FAILED, error=str(exc) or type(exc).__name__)
        raise
    _finish(export, ExportStatus.READY, file_name=file_name)
    send_email.delay(
        export.user.email,
        "Your blog archive is ready",
        f"Download it here until {export.expires_at:%Y-%m-%d %H:%M} UTC:\n"
        f"{external_url('account.export_page', export_id=export.id)}\n",
    )


def _write_archive(task: Task, export: Export) -> str:
    user: User = export.user
    total = db.session.scalar(select(func.count()).where(Post.author_id == user.id)) or 0

    def save_progress(progress: Progress) -> None:
        # 100 % is for a finished archive, so the page shows 99 % until the file is in place.
        export.progress = min(percent(progress), 99)
        db.session.commit()

    reporter = ProgressReporter(task, total=total, on_update=save_progress)
    profile = {
        "username": user.username,
        "email": user.email,
        "joined": user.created_at.isoformat(),
        "posts": total,
        "exported_at": utcnow().isoformat(),
    }
    export_dir: Path = current_app.config["EXPORT_DIR"]
    file_name = f"export-{export.id}.zip"
    # Written under a temporary name and renamed when complete, so a file that
    # is there is a whole archive even if the worker dies mid-way.
    partial = export_dir / f".{file_name}.part"
    try:
        write_archive(
            partial,
            profile=profile,
            posts=iter_posts(user.id),
            on_post=lambda n: reporter.update(n, f"{n} of {total} posts"),
        )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(export_dir / file_name)
    return file_name


def _finish(
    export: Export, status: ExportStatus, *, file_name: str | None = None, error: str | None = None
) -> None:
    export.status, export.file_name, export.error = status, file_name, error
    export.progress = 100 if status is ExportStatus.READY else export.progress
    export.expires_at = utcnow() + current_app.config["EXPORT_TTL"]
    db.session.commit()


@shared_task
def delete_expired_exports() -> int:
    """Delete expired archives and their rows, and fail exports no worker finished (beat job)."""
    now = utcnow()
    expired = db.session.scalars(select(Export).where(Export.expires_at <= now)).all()
    for export in expired:
        if export.file_name:
            (current_app.config["EXPORT_DIR"] / export.file_name).unlink(missing_ok=True)
        db.session.delete(export)
    # Past the hard time limit no worker is still building it (lost message, dead worker).
    stale_before = now - timedelta(
        seconds=2 * current_app.extensions["celery"].conf.task_time_limit
    )
    stale = db.session.scalars(
        select(Export).where(Export.status.in_(ACTIVE), Export.created_at < stale_before)
    ).all()
    for export in stale:
        _finish(export, ExportStatus.FAILED, error="The export did not finish in time.")
    db.session.commit()
    logger.info("deleted %d expired exports, failed %d stale ones", len(expired), len(stale))
    return len(expired)
