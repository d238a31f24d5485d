"""One run of `build_report`, and the only changes a run makes to its report's row.

A report belongs to one queued message at a time, the one whose id the row
holds in `task_id` (set when the report is queued, and again when it is
retried). Every change a run makes is an `UPDATE … WHERE task_id = <its message>
AND status = <what the run expects>`. So a run that lost its report (the owner
cancelled it, the reaper failed it, the owner retried it under a new message)
changes nothing, however late it comes: it can never overwrite a newer state.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, update
from sqlalchemy.orm import Session

from reports.db import SessionLocal
from reports.models import Report, ReportStatus
from shared.progress import Progress

UNFINISHED = (ReportStatus.PENDING, ReportStatus.RUNNING)


class RunSupersededError(Exception):
    """The row moved on (cancelled, failed by the reaper, queued again) while this run worked."""


@dataclass(frozen=True)
class Run:
    """A run of report `report_id` by the message `task_id`.

    A task called directly (tests, a shell) has no task id, and may build only
    a row queued without one.
    """

    report_id: int
    task_id: str | None

    def _is_mine(self, statuses: Collection[ReportStatus]) -> ColumnElement[bool]:
        # `task_id == None` compiles to IS NULL: the direct call's case.
        return and_(
            Report.id == self.report_id,
            Report.task_id == self.task_id,
            Report.status.in_(statuses),
        )

    def start(self, session: Session) -> int | None:
        """Mark the report running, started now, one attempt more; returns the attempts.

        None when the report is not this run's to build: missing, finished,
        cancelled, failed, or queued again under another message. A redelivered
        message finds its report still running, and starts it again.
        """
        attempts = session.scalar(
            update(Report)
            .where(self._is_mine(UNFINISHED))
            .values(
                status=ReportStatus.RUNNING,
                started_at=func.now(),
                attempts=Report.attempts + 1,
            )
            .returning(Report.attempts)
        )
        session.commit()
        return attempts

    def store_progress(self, session: Session, progress: Progress) -> None:
        """Mirror `progress` into the row; raises RunSupersededError if it moved on."""
        still_mine = session.scalar(
            update(Report)
            .where(self._is_mine([ReportStatus.RUNNING]))
            .values(
                progress_current=progress["current"],
                progress_total=progress["total"],
                message=progress["message"],
            )
            .returning(Report.id)
        )
        session.commit()
        if still_mine is None:
            raise RunSupersededError

    def finish(self, status: ReportStatus, **values: Any) -> bool:
        """Move the report to `status`, in a session of its own; False if it had moved on."""
        with SessionLocal.begin() as session:
            moved = session.scalar(
                update(Report)
                .where(self._is_mine(UNFINISHED))
                .values(status=status, finished_at=func.now(), **values)
                .returning(Report.id)
            )
        return moved is not None
