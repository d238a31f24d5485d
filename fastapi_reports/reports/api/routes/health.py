"""Readiness (`/health`: database and broker) and the worker round trip (`/health/worker`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from reports.api.deps import SessionDep
from reports.celery_app import celery_app
from reports.schemas import HealthOut
from reports.tasks import ping
from shared.health import Check, check_broker, check_worker_roundtrip, report, run_check

router = APIRouter(tags=["health"])
#: Both answers carry the checks; the status code says whether all passed.
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": HealthOut, "description": "Every check passed"},
    503: {"model": HealthOut, "description": "A check failed"},
}


def check_database(session: Session) -> Check:
    def probe() -> str:
        session.execute(text("SELECT 1"))
        return session.get_bind().engine.url.render_as_string(hide_password=True)

    return run_check("database", probe)


@router.get("/health", responses=HEALTH_RESPONSES)
def health(session: SessionDep) -> JSONResponse:
    body, status = report(check_database(session), check_broker(celery_app))
    return JSONResponse(body, status_code=status)


@router.get("/health/worker", responses=HEALTH_RESPONSES)
def health_worker(session: SessionDep) -> JSONResponse:
    checks = check_database(session), check_broker(celery_app), check_worker_roundtrip(ping)
    body, status = report(*checks)
    return JSONResponse(body, status_code=status)
