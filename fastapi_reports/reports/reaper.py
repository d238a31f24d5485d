"""The reaper: reports that can no longer finish are failed, when someone looks at them.

A report is stale when it is

- running, and its run started longer ago than the broker's redelivery delay
  (the visibility timeout) plus a margin. A run whose worker died (SIGKILL, out
  of memory, a lost machine) is not stale: Redis hands its message to another
  worker within that delay, and the new run starts the report again (a new
  started_at) and finishes it. What outlives the delay was ended by the hard
  time limit (Celery acks the message without a word to the row), or lost its
  message with its worker;
- for a build split into parts, the same rule, on a clock that each of its
  steps restarts: the start of a part or of the merge, and each slice a part
  sums (reports/runs.py, `PartRun.start`, `PartRun.store_progress`,
  `Run.start_merge`). A part whose worker died comes back within the delay
  from its last write. Parts waiting in the queue write nothing: they get the
  delay from the last slice of the parts that ran before them (the merge, sent
  when the last part ends, from that part's last slice), as a pending report
  gets it from its queueing; parts of which none has started yet, from the
  build that sent them. So the report is stale only once nothing of it has
  been heard of for longer than the delay;
- pending, and it was queued longer ago than the same delay plus the margin: a
  message held by a worker that died would be back by then, so a report that
  has not started has lost its message (Redis lost its data, say). A queue
  longer than that would fail reports that are only waiting: size the workers
  so it never is.

Why on read and not on a schedule: this app runs no beat service, and a stale
row harms no one until someone looks at it. So every read (the API's read and
list, the pages, the event stream) first fails what it is about to show, if it
is stale. The UPDATE repeats the staleness condition, so a report that started
or finished meanwhile is left alone; and a run that comes back later changes
nothing, because every change a run makes is conditional too (reports/runs.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from reports.config import settings
from reports.files import remove_report_files
from reports.models import Report, ReportStatus
from shared.celery_app import visibility_timeout

logger = logging.getLogger(__name__)

#: Slack for clocks, and for a redelivered message to find a free worker process.
MARGIN = dt.timedelta(seconds=60)
RUNNING_AT_MOST = dt.timedelta(seconds=visibility_timeout(settings)) + MARGIN
PENDING_AT_MOST = dt.timedelta(seconds=visibility_timeout(settings)) + MARGIN

STOPPED = "The build stopped without finishing (its worker was lost, or time ran out): retry it."
NEVER_STARTED = "The build never started (its message was lost): retry it."


def is_stale(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        and_(Report.status == ReportStatus.RUNNING, Report.started_at < now - RUNNING_AT_MOST),
        and_(Report.status == ReportStatus.PENDING, Report.queued_at < now - PENDING_AT_MOST),
    )


def fail_stale_reports(session: Session, *where: ColumnElement[bool]) -> Sequence[int]:
    """Fail the stale reports among those matching `where`; returns their ids.

    A read first (no write lock while nothing is stale, which is nearly always),
    then a conditional UPDATE of what it found. Commits.
    """
    now = dt.datetime.now(dt.UTC)
    stale_ids = session.scalars(select(Report.id).where(*where, is_stale(now))).all()
    if not stale_ids:
        return []
    failed = session.scalars(
        update(Report)
        .where(Report.id.in_(stale_ids), is_stale(now))
        .values(
            status=ReportStatus.FAILED,
            message=case((Report.status == ReportStatus.RUNNING, STOPPED), else_=NEVER_STARTED),
            finished_at=func.now(),
        )
        .returning(Report.id)
        # The rows may be in the session already: refresh them from RETURNING.
        .execution_options(synchronize_session="fetch")
    ).all()
    session.commit()
    for report_id in failed:
        logger.warning("report %s was stale: failed it", report_id)
        remove_report_files(report_id)
    return failed
