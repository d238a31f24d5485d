"""Every change an export goes through once the user has asked, each a conditional UPDATE.

A run of the archive task claims the export by stamping `started_at` on it.
Every later write of the run is `UPDATE ... WHERE status = 'running' AND
started_at = <its stamp>`, so a run that has lost the export (the reaper failed
it, a newer run took it over) changes nothing and deletes what it wrote. Each
run writes its own file, so it never deletes another run's.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, delete, select, update
from werkzeug.security import safe_join

from blog.extensions import db
from blog.models import ACTIVE, Export, ExportEvent, ExportStatus, utcnow

#: Deliveries of one export's task before it fails for good. A message whose task
#: kills its worker (out of memory, say) would otherwise be redelivered forever.
MAX_ATTEMPTS = 3

# The partial files `part_name` names; the reaper finds a killed run's leftovers by it.
_PART_NAME = re.compile(r"\.export-(?P<export_id>\d+)-[0-9a-f]+\.zip\.part")


@dataclass(frozen=True)
class Run:
    """One run of the archive task on one export: what its writes check they still hold."""

    export_id: int
    user_id: int
    started_at: datetime
    attempt: int

    def holds_export(self) -> ColumnElement[bool]:
        """The WHERE clause of the run's writes: the export is still running, by this run."""
        return and_(
            Export.id == self.export_id,
            Export.status == ExportStatus.RUNNING,
            Export.started_at == self.started_at,
        )


def claim(user_id: int) -> Run | None:
    """Mark the user's export in progress as running, by a new run; None if there is none."""
    started_at = utcnow()
    claimed = db.session.execute(
        update(Export)
        .where(Export.user_id == user_id, Export.status.in_(ACTIVE))
        .values(
            status=ExportStatus.RUNNING,
            started_at=started_at,
            attempts=Export.attempts + 1,
            progress=0,
            error=None,
        )
        .returning(Export.id, Export.attempts)
    ).one_or_none()
    db.session.commit()
    if claimed is None:
        return None
    return Run(claimed.id, user_id, started_at, attempt=claimed.attempts)


def save_progress(run: Run, progress: int) -> None:
    db.session.execute(update(Export).where(run.holds_export()).values(progress=progress))
    db.session.commit()


def finish(
    run: Run, status: ExportStatus, *, file_name: str | None = None, error: str | None = None
) -> bool:
    """Record how the run ended, if the export is still its own; returns whether it was."""
    values: dict[str, Any] = {
        "status": status,
        "file_name": file_name,
        "error": error,
        "expires_at": utcnow() + current_app.config["EXPORT_TTL"],
    }
    if status is ExportStatus.READY:
        values["progress"] = 100
    finished = update(Export).where(run.holds_export()).values(values).returning(Export.id)
    finished_id = db.session.scalar(finished)
    db.session.commit()
    return finished_id is not None


def archive_name(run: Run) -> str:
    """A file name for the run's archive that no other run of the export uses."""
    return f"export-{run.export_id}-{secrets.token_hex(8)}.zip"


def part_name(file_name: str) -> str:
    """The name the archive has while it is written: hidden, and renamed once complete."""
    return f".{file_name}.part"


def delete_archive(file_name: str) -> None:
    """Delete a file of the export directory; a name that points outside it deletes nothing."""
    path = safe_join(str(current_app.config["EXPORT_DIR"]), file_name)
    if path is not None:
        Path(path).unlink(missing_ok=True)


def fail_stuck(now: datetime) -> int:
    """Fail the exports that no worker will finish; returns how many.

    The user sees the message and the Try again button. A run still going past
    EXPORT_RUN_DEADLINE was ended by the hard time limit, or its worker died and
    its message was lost too (a redelivered message would have started a new
    run by then); a request queued past EXPORT_QUEUE_DEADLINE lost its message.
    """
    config = current_app.config
    expires_at = now + config["EXPORT_TTL"]
    running_too_long = and_(
        Export.status == ExportStatus.RUNNING,
        Export.started_at < now - config["EXPORT_RUN_DEADLINE"],
    )
    queued_too_long = and_(
        Export.status == ExportStatus.PENDING,
        Export.created_at < now - config["EXPORT_QUEUE_DEADLINE"],
    )
    failed = 0
    for stuck, error in (
        (running_too_long, "The export stopped before it finished."),
        (queued_too_long, "No worker started the export in time."),
    ):
        values = {"status": ExportStatus.FAILED, "error": error, "expires_at": expires_at}
        fail = update(Export).where(stuck).values(values).returning(Export.id)
        failed += len(db.session.scalars(fail).all())
    db.session.commit()
    return failed


def delete_expired(now: datetime) -> int:
    """Delete the exports past their expiry, and their archives; returns how many."""
    # Their events first, in the same transaction: PostgreSQL would cascade, but
    # SQLite enforces no foreign keys and a bulk DELETE bypasses the session's cascade.
    expired_ids = select(Export.id).where(Export.expires_at <= now)
    db.session.execute(delete(ExportEvent).where(ExportEvent.export_id.in_(expired_ids)))
    # One DELETE: a row retried since (its expiry cleared) is not deleted.
    expired = delete(Export).where(Export.expires_at <= now).returning(Export.file_name)
    file_names = db.session.scalars(expired).all()
    db.session.commit()
    for file_name in file_names:
        if file_name is not None:
            delete_archive(file_name)
    return len(file_names)


def _part_files() -> dict[Path, int]:
    """The partial archives in the export directory, with the id of the export of each."""
    export_dir: Path = current_app.config["EXPORT_DIR"]
    return {
        path: int(match["export_id"])
        for path in export_dir.iterdir()
        if (match := _PART_NAME.fullmatch(path.name))
    }


def delete_earlier_parts(run: Run) -> None:
    """Delete what earlier runs of the run's export left half-written (their worker died).

    The run holds the export now, so no earlier run will finish: should one still
    be writing, it loses the export at its next write and discards its work.
    """
    for path, export_id in _part_files().items():
        if export_id == run.export_id:
            path.unlink(missing_ok=True)


def delete_stray_parts() -> int:
    """Delete the partial archives that no running export owns (left by a killed run)."""
    # Files first, then the query: a run marks its export running before it creates
    # its file, so a file listed here whose export is not running below is no live run's.
    parts = _part_files()
    running = set(
        db.session.scalars(select(Export.id).where(Export.status == ExportStatus.RUNNING))
    )
    strays = [path for path, export_id in parts.items() if export_id not in running]
    for path in strays:
        path.unlink(missing_ok=True)
    return len(strays)
