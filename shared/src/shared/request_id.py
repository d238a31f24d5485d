"""Logging that ties a web request to the tasks it started.

The web app binds a request id for the length of a request (the WSGI and ASGI
middlewares below, or `bind_request_id` from a framework hook). When a task is
published, `before_task_publish` copies the id into the message headers; when
the worker runs it, `task_prerun` binds it again, with the task id. A logging
filter puts both on every log record, so one `grep <request id>` finds the
request and every task it caused, in the web log and the worker log alike.
Tasks started by a task inherit the id the same way.
"""

from __future__ import annotations

import logging
import logging.config
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from celery import signals

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"
LOG_FORMAT = (
    "%(asctime)s %(levelname)-7s %(name)s [req=%(request_id)s task=%(task_id)s] %(message)s"
)

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
# Only ids that are safe to echo in a header and a log line are accepted.
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def current_request_id() -> str | None:
    """The request id bound to the running request or task, if any."""
    return _request_id.get()


def new_request_id(incoming: str | None = None) -> str:
    """The caller's id when it is well formed, otherwise a fresh one."""
    if incoming and _VALID_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


@contextmanager
def bind_request_id(request_id: str) -> Iterator[str]:
    """Bind `request_id` for the duration of the block."""
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


class ContextFilter(logging.Filter):
    """Adds `request_id` and `task_id` ("-" when none) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        record.task_id = _task_id.get() or "-"
        return True


def configure_logging(level: str = "INFO") -> None:
    """One handler on the root logger, with the request and task ids on every line."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter}},
            "formatters": {"plain": {"format": LOG_FORMAT}},
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "filters": ["context"],
                    "formatter": "plain",
                }
            },
            "root": {"handlers": ["console"], "level": level.upper()},
            # uvicorn's access log (the reports' web server) goes through the same
            # handler instead of its own: uvicorn logs each line from inside the
            # request, while the id is bound, so the line carries it, as gunicorn's
            # access log does the shop's and the blog's (their bin/web).
            "loggers": {"uvicorn.access": {"handlers": ["console"], "propagate": False}},
        }
    )


# --- Celery: carry the id from the publisher to the worker ------------------


def _on_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = _request_id.get()
    if headers is not None and request_id and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


def _on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    incoming = getattr(task.request, TASK_HEADER, None) if task is not None else None
    _request_id.set(incoming or None)
    _task_id.set(task_id)


def _on_postrun(**_: Any) -> None:
    _request_id.set(None)
    _task_id.set(None)


def connect_celery_signals(log_level: str = "INFO") -> None:
    """Wire the publish/run hooks and the worker's logging. Safe to call twice."""

    def _setup_logging(**_: Any) -> None:
        # Connecting to setup_logging stops Celery from configuring logging itself.
        configure_logging(log_level)

    signals.before_task_publish.connect(_on_publish, weak=False, dispatch_uid="shared.publish")
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="shared.prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="shared.postrun")
    signals.setup_logging.connect(_setup_logging, weak=False, dispatch_uid="shared.logging")


# --- Web: bind an id for each request ----------------------------------------

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestIdWSGIMiddleware:
    """WSGI middleware: bind the incoming X-Request-ID (or a new one) and echo it back."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request_id = new_request_id(environ.get("HTTP_X_REQUEST_ID"))

        def start_with_header(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, (HEADER, request_id)], *args)

        with bind_request_id(request_id):
            return self.app(environ, start_with_header)


class RequestIdASGIMiddleware:
    """ASGI middleware: the same for FastAPI and Starlette."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = new_request_id(incoming)

        async def send_with_header(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with bind_request_id(request_id):
            await self.app(scope, receive, send_with_header)
