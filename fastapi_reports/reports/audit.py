"""The audit log, written by FastAPI BackgroundTasks after the response has been sent.

This is what BackgroundTasks are for: a few milliseconds of work the client
should not wait for, that may be lost if the web process dies, and that needs
no retry, no worker and no broker. A report build is none of those, so it is a
Celery task. The function opens its own session: by the time it runs, the
request's session (a `yield` dependency) has already been closed.
"""

from __future__ import annotations

import logging

from reports.db import SessionLocal
from reports.models import AuditEvent

logger = logging.getLogger(__name__)


def record_audit(
    *, action: str, user_id: int | None, report_id: int | None, request_id: str | None
) -> None:
    with SessionLocal.begin() as session:
        session.add(
            AuditEvent(action=action, user_id=user_id, report_id=report_id, request_id=request_id)
        )
    logger.info("audit: user %s %s report %s", user_id, action, report_id)
