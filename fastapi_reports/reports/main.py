"""The web app: `uvicorn reports.main:app`, or `create_app()` in tests."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.middleware.sessions import SessionMiddleware

# Importing the Celery app makes it the current app, the one `.delay()` publishes with.
import reports.celery_app  # noqa: F401
from reports.api.routes import auth, health, pages
from reports.api.routes import reports as reports_api
from reports.config import settings
from reports.csrf import SameOriginMiddleware
from reports.schemas import MAX_BODY_BYTES, ValidationErrors, readable
from shared.request_id import RequestIdASGIMiddleware, configure_logging


def create_app() -> FastAPI:
    configure_logging(settings.log_level)
    # FastAPI's /docs and /redoc pages, with their scripts, styles and icon served
    # by the app (under /static-offline-docs) instead of a CDN: they work offline.
    app = FastAPIOffline(
        title="Reports",
        summary="Sales reports built by Celery, with live progress and download.",
        version="0.1.0",
        # Refused with 413 before it is read into memory: see MAX_BODY_BYTES.
        max_body_size=MAX_BODY_BYTES,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.reports_secret_key.get_secret_value(),
        session_cookie="reports_session",
        same_site="lax",
        https_only=settings.reports_env == "production",
    )
    app.add_middleware(SameOriginMiddleware, trusted_origins=[settings.reports_url])
    app.add_middleware(RequestIdASGIMiddleware)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (health, auth, pages, reports_api):
        app.include_router(module.router)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad field with a message a person can act on."""
        body = ValidationErrors.model_validate({"detail": readable(exc.errors())})
        return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    return app


app = create_app()
