"""Named dependencies. They live for one request and never enter a Celery task."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import BackgroundTasks, Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from reports.audit import record_audit
from reports.db import SessionLocal
from reports.models import Report, User
from reports.service import find_own_report
from shared.request_id import current_request_id


def get_session() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


# scope="function": the session closes when the handler returns, before the response
# is sent, so a streamed response (the progress events) does not hold a connection.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_optional_user(request: Request, session: SessionDep) -> User | None:
    """The user signed in with the session cookie, if any."""
    user_id = request.session.get("user_id")
    return session.get(User, user_id) if isinstance(user_id, int) else None


OptionalUserDep = Annotated[User | None, Depends(get_optional_user)]


def get_current_user(user: OptionalUserDep) -> User:
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Sign in first, at /login.")
    return user


CurrentUserDep = Annotated[User, Depends(get_current_user)]


def get_own_report(report_id: int, user: CurrentUserDep, session: SessionDep) -> Report:
    """The report `report_id` if it is the current user's: someone else's is a 404, not a 403."""
    report = find_own_report(session, owner=user, report_id=report_id)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such report.")
    return report


OwnReportDep = Annotated[Report, Depends(get_own_report)]


@dataclass
class Auditor:
    """`audit(action, user_id=..., report_id=...)` records the event after the response is sent."""

    background_tasks: BackgroundTasks

    def __call__(self, action: str, *, user_id: int | None, report_id: int | None = None) -> None:
        self.background_tasks.add_task(
            record_audit,
            action=action,
            user_id=user_id,
            report_id=report_id,
            request_id=current_request_id(),
        )


AuditDep = Annotated[Auditor, Depends(Auditor)]
