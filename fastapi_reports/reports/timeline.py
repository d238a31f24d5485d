"""The timeline of each report's tasks, written as ReportEvent rows.

`TIMELINE` follows the build (one task, or a chord of parts and their merge)
and the notification through Celery's signals (shared/src/shared/timeline.py
says which signal, in which process); the service records `committed` itself,
after the commit and before the publish (reports/service.py), and the build
its progress, each quarter of the way. The report's page and
GET /api/reports/{id}/timeline show the rows, oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from reports.db import EventSession, commit_asynchronously
from reports.models import EVENT_DETAIL_LENGTH, ReportEvent
from shared.timeline import Event, Timeline, first_argument


def report_of_merge(args: Sequence[Any], kwargs: Mapping[str, Any]) -> int | None:
    """merge_report_parts(parts, report_id, run_id): the parts' totals come first."""
    if "report_id" in kwargs:
        return int(kwargs["report_id"])
    return int(args[1]) if len(args) > 1 else None


def record(event: Event) -> None:
    """Write `event` as a row of its report, in a session and transaction of its own."""
    with EventSession() as session:
        commit_asynchronously(session)  # an event lost in a crash is no harm: never wait
        session.add(
            ReportEvent(
                report_id=event.subject,
                kind=event.kind,
                at=event.at,
                task_id=event.task_id,
                task_name=event.task_name,
                detail=event.detail[:EVENT_DETAIL_LENGTH],
            )
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # the report is gone: nothing left to show the event on


TIMELINE = Timeline(
    {
        "reports.build_report": first_argument,
        "reports.build_report_part": first_argument,
        "reports.merge_report_parts": report_of_merge,
        "reports.notify_report_ready": first_argument,
    },
    record,
)
