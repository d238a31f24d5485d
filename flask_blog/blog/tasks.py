"""The blog's tasks. They get ids, load what they need, and run inside the app context.

`FlaskTask` (celery_app.py) pushes the app context around every task, which is
why `db.session` and `current_app` work here exactly as in a view.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery import Task, shared_task
from flask import current_app
from sqlalchemy import func, select

from blog import exports
from blog.archive import iter_posts, write_archive
from blog.extensions import db
from blog.mail import build_message, deliver
from blog.models import Export, ExportStatus, Post, User, utcnow
from blog.settings import BlogSettings
from blog.timeline import timeline
from blog.urls import external_url
from shared.celery_app import IDEMPOTENT, MAX_RETRY_DELAY
from shared.progress import Progress, ProgressReporter, percent

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=False)
def ping(self: Task[Any, Any]) -> dict[str, Any]:
    """Answer /health/worker: proves a worker consumes the blog queue."""
    return {"app": "blog", "worker": self.request.hostname}


@shared_task(bind=True, **IDEMPOTENT)
def generate_user_archive(self: Task[Any, Any], user_id: int) -> None:
    """Build the archive of the user's export in progress, if there is one.

    A user has at most one export in progress (a unique index keeps it so), so
    the user id is all the task needs. Every write is conditional on this run
    still holding the export (exports.py), so a second delivery takes the export
    over and the first changes nothing more; past MAX_ATTEMPTS deliveries the
    export fails instead of running again.
    """
    run = exports.claim(user_id)
    if run is None:
        logger.info("no export in progress for user %s", user_id)
        return
    if run.attempt > exports.MAX_ATTEMPTS:
        error = f"The export was tried {exports.MAX_ATTEMPTS} times and never finished."
        exports.finish(run, ExportStatus.FAILED, error=error)
        return
    exports.delete_earlier_parts(run)
    try:
        file_name = _write_archive(self, run)
    except Exception as exc:
        db.session.rollback()
        exports.finish(run, ExportStatus.FAILED, error=str(exc) or type(exc).__name__)
        raise
    if not exports.finish(run, ExportStatus.READY, file_name=file_name):
        logger.info("export %s is no longer this run's: discarding its archive", run.export_id)
        exports.delete_archive(file_name)
        return
    export = db.session.get_one(Export, run.export_id)
    send_email.delay(
        export.user.email,
        "Your blog archive is ready",
        f"Download it here until {export.expires_at:%Y-%m-%d %H:%M} UTC:\n"
        f"{external_url('account.export_page', export_id=export.id)}\n",
    )


def _write_archive(task: Task[Any, Any], run: exports.Run) -> str:
    user = db.session.get_one(User, run.user_id)
    total = db.session.scalar(select(func.count()).where(Post.author_id == user.id)) or 0

    def save_progress(progress: Progress) -> None:
        # 100 % is for a finished archive, so the page shows 99 % until the file is in place.
        exports.save_progress(run, min(percent(progress), 99))
        timeline.progress(task, run.user_id, progress)

    reporter = ProgressReporter(task, total=total, on_update=save_progress)
    profile = {
        "username": user.username,
        "email": user.email,
        "joined": user.created_at.isoformat(),
        "posts": total,
        "exported_at": utcnow().isoformat(),
    }
    export_dir: Path = current_app.config["EXPORT_DIR"]
    file_name = exports.archive_name(run)
    # Written under a temporary name and renamed when complete, so a file that
    # is there is a whole archive. A run killed mid-way (hard time limit, lost
    # worker) leaves the partial file to the reaper.
    partial = export_dir / exports.part_name(file_name)
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


@shared_task
def delete_expired_exports() -> int:
    """The reaper (beat, every minute): leave no export stuck and no file behind.

    Fails exports no worker will finish, deletes expired exports with their
    archives, and partial files no running export owns. Returns how many
    exports it deleted.
    """
    now = utcnow()
    failed = exports.fail_stuck(now)
    deleted = exports.delete_expired(now)
    strays = exports.delete_stray_parts()
    logger.info(
        "failed %d stuck exports, deleted %d expired ones and %d partial files",
        failed,
        deleted,
        strays,
    )
    return deleted


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=MAX_RETRY_DELAY,
    retry_jitter=True,
    max_retries=6,
)
def send_email(to: Sequence[str] | str, subject: str, text: str, html: str | None = None) -> None:
    """Send one email. Arguments are plain values, so the message is JSON like every other.

    SMTP and network errors are retried with exponential backoff (capped at
    MAX_RETRY_DELAY, six tries). This task is not idempotent: a retry after the
    server accepted the message sends it again, which is why it does not use
    acks_late: the export page shows the same link, so a lost email costs
    little. A task that must send exactly once claims a row first (the shop's
    order confirmation, which sends through Django's mail).
    """
    settings = BlogSettings()
    recipients = [to] if isinstance(to, str) else list(to)
    message = build_message(
        sender=settings.smtp_sender, to=recipients, subject=subject, text=text, html=html
    )
    deliver(message, settings)
    logger.info("sent email %r to %s", subject, ", ".join(recipients))
