"""The blog's task timeline: the life of each export's task, as rows next to the export.

`shared.timeline.Timeline` turns Celery's signals into events; `record` here
writes each as an `ExportEvent`. The worker's pool process writes them all, in
its task signals, which run outside the task's `__call__`, so there is no app
context there: `record` pushes its own, every time. A new app context has its
own Flask-SQLAlchemy session, so each event is written and committed on its
own: an event of a task that rolls back stays, and recording never commits the
session of the task around it.
"""

from __future__ import annotations

from flask import Flask, current_app, has_app_context
from sqlalchemy import select

from blog.extensions import db
from blog.models import Export, ExportEvent
from shared.timeline import Event, Timeline, first_argument

# The app of this process (web or worker: both call `init_app` from create_app),
# for the signals that arrive outside any app context.
_apps: list[Flask] = []


def record(event: Event) -> None:
    """Write `event` onto the export its task works on: the user's latest export.

    The task gets a user id, not an export id, and works on the user's one export
    in progress (models.py keeps it to one). That is the export the user asked for
    last (a retry asks again: it sets `created_at` anew), so the subject is the
    user id and the event goes on the user's most recently requested export,
    which is also the one a finished run just ended.
    """
    app = current_app._get_current_object() if has_app_context() else _apps[-1]  # type: ignore[attr-defined]
    with app.app_context():
        export_id = db.session.scalar(
            select(Export.id)
            .where(Export.user_id == event.subject)
            .order_by(Export.created_at.desc(), Export.id.desc())
            .limit(1)
        )
        if export_id is None:
            return
        db.session.add(
            ExportEvent(
                export_id=export_id,
                kind=event.kind,
                at=event.at,
                task_id=event.task_id,
                task_name=event.task_name,
                detail=event.detail,
            )
        )
        db.session.commit()


#: The registered name of `blog.tasks.generate_user_archive` (tasks.py imports this module).
ARCHIVE_TASK = "blog.tasks.generate_user_archive"

timeline = Timeline({ARCHIVE_TASK: first_argument}, record)


def init_app(app: Flask) -> None:
    """Record the timeline in this process; connecting again changes nothing."""
    _apps.append(app)
    del _apps[:-1]
    timeline.connect()
