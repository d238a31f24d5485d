"""One run of `build_report`, its parts, and the only changes they make to the database.

A report belongs to one queued message at a time, the one whose id the row
holds in `task_id` (set when the report is queued, and again when it is
retried). Every change a run makes is an `UPDATE … WHERE task_id = <its message>
AND status = <what the run expects>`. So a run that lost its report (the owner
cancelled it, the reaper failed it, the owner retried it under a new message)
changes nothing, however late it comes: it can never overwrite a newer state.

A long report is cut into parts (reports/parts.py), each summed by a task of its
own, and merged by a chord callback. They act for the run that cut the report:
each part and the merge carry its message id, and their writes are conditional
on it like the run's own (`PartRun`, `Run.start_merge`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select, update
from sqlalchemy.orm import Session

from reports.db import SessionLocal, commit_asynchronously
from reports.models import Report, ReportPart, ReportStatus
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
        commit_asynchronously(session)
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

    def finished_with(self, file_name: str) -> bool:
        """Did this run finish the report with the file `file_name`?

        True only for another copy of this very message (a redelivery that
        raced its original, a duplicate merge): the file is then the report's.
        """
        with SessionLocal() as session:
            done = session.scalar(
                select(Report.id).where(
                    Report.id == self.report_id,
                    Report.task_id == self.task_id,
                    Report.status == ReportStatus.DONE,
                    Report.file_name == file_name,
                )
            )
        return done is not None

    def split(self, session: Session, parts: Sequence[tuple[dt.date, dt.date]]) -> bool:
        """Record `parts` as the parts of this running build, once; True if they are to be sent.

        False once they were sent (`mark_parts_sent`): a build_report redelivered
        after it sent its chord sends nothing more. True the first time, and for a
        build whose first delivery recorded the parts but died before it recorded
        sending them: that build keeps the parts it finds and the days they
        counted, and sends them again. Raises RunSupersededError if the report
        moved on. Commits.
        """
        total = sum((last - first).days + 1 for first, last in parts)
        message = f"Adding up the sales in {len(parts)} parts"
        if _lock_report(session, self, progress_total=total, message=message) is None:
            session.rollback()
            raise RunSupersededError
        sent = session.scalars(select(ReportPart.sent_at).where(_parts_of(self))).all()
        if sent and None not in sent:
            session.rollback()  # the report stays as its parts left it
            return False
        if not sent:
            rows = [{"first_day": first, "last_day": last} for first, last in parts]
            session.execute(
                insert(ReportPart).values(
                    report_id=self.report_id, task_id=self.task_id, days_done=0, runs=0
                ),
                rows,
            )
        _count_days(session, self)
        session.commit()
        return True

    def mark_parts_sent(self, session: Session) -> None:
        """Record that this build's parts were sent: after the publish, never before. Commits.

        In this order, a build that dies between the two is redelivered, finds
        its parts not sent, and sends them again: each part then runs twice,
        which counts nothing twice. The other order could leave a report whose
        parts were never sent, with nothing running, until the reaper failed it.
        """
        session.execute(
            update(ReportPart)
            .where(_parts_of(self), ReportPart.sent_at.is_(None))
            .values(sent_at=func.now())
        )
        session.commit()

    def start_merge(self, session: Session) -> int | None:
        """Mark the merge of this build's parts started now; returns its attempts.

        None when the report is no longer this run's (cancelled, failed, queued
        again). The merge's start restarts the reaper's clock, as a run's start
        does. Commits.
        """
        attempts = session.scalar(
            update(Report)
            .where(self._is_mine([ReportStatus.RUNNING]))
            .values(started_at=func.now(), merge_attempts=Report.merge_attempts + 1)
            .returning(Report.merge_attempts)
        )
        session.commit()
        return attempts


@dataclass(frozen=True)
class PartRun:
    """A run of the part `first_day`..`last_day` of the build `run`."""

    run: Run
    first_day: dt.date
    last_day: dt.date

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def _is_me(self) -> ColumnElement[bool]:
        return and_(_parts_of(self.run), ReportPart.first_day == self.first_day)

    def start(self, session: Session) -> int | None:
        """Count a run of the part, and restart the reaper's clock; returns the part's runs.

        None when the report is no longer its run's, or the run has no such
        part: a late part changes nothing. Commits.
        """
        # A part starting is a run starting (reports/reaper.py).
        if _lock_report(session, self.run, started_at=func.now()) is None:
            session.rollback()
            return None
        runs: int | None = session.scalar(
            update(ReportPart)
            .where(self._is_me())
            .values(runs=ReportPart.runs + 1)
            .returning(ReportPart.runs)
        )
        if runs is None:
            session.rollback()
            return None
        session.commit()
        return runs

    def store_progress(self, session: Session, progress: Progress) -> None:
        """Count `progress` (days of this part) in the report's row; raises RunSupersededError.

        A part's days only rise, and the report's progress is the sum of its
        parts' days: a part that runs again (redelivered after its worker died)
        sums its first slices anew without counting them twice. Each write also
        restarts the reaper's clock (reports/reaper.py). Commits.
        """
        heard_of = {"message": progress["message"], "started_at": func.now()}
        if _lock_report(session, self.run, **heard_of) is None:
            session.rollback()
            raise RunSupersededError
        commit_asynchronously(session)
        session.execute(
            update(ReportPart)
            .where(self._is_me(), ReportPart.days_done < progress["current"])
            .values(days_done=progress["current"])
        )
        _count_days(session, self.run)
        session.commit()


def _lock_report(session: Session, run: Run, **values: Any) -> int | None:
    """Set `values` on the report if `run` still owns it, running; its id, or None.

    The conditional UPDATE also locks the report's row until the commit (on
    SQLite, the database's writes), so a part's writes to a report follow each
    other's, never interleave: the first statement of every transaction a
    part writes in.
    """
    return session.scalar(
        update(Report)
        .where(run._is_mine([ReportStatus.RUNNING]))
        .values(**values)
        .returning(Report.id)
    )


def _parts_of(run: Run) -> ColumnElement[bool]:
    return and_(ReportPart.report_id == run.report_id, ReportPart.task_id == run.task_id)


def _count_days(session: Session, run: Run) -> None:
    # The sum is read after _lock_report took the row's lock: every part that wrote
    # before has committed, and PostgreSQL's READ COMMITTED reads afresh at each
    # statement, so the sum sees them all and never goes back.
    counted = select(func.coalesce(func.sum(ReportPart.days_done), 0)).where(_parts_of(run))
    session.execute(
        update(Report)
        .where(Report.id == run.report_id)
        .values(progress_current=counted.scalar_subquery())
    )
