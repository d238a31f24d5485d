import asyncio
import logging
from typing import Any

import pytest

from shared.request_id import (
    HEADER,
    ContextFilter,
    RequestIdASGIMiddleware,
    RequestIdWSGIMiddleware,
    _on_publish,
    bind_request_id,
    current_request_id,
    new_request_id,
)


def test_a_well_formed_incoming_id_is_kept() -> None:
    assert new_request_id("abc-123.x_y") == "abc-123.x_y"


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 129, "new\nline"])
def test_a_missing_or_unsafe_id_is_replaced(incoming: str | None) -> None:
    fresh = new_request_id(incoming)

    assert fresh != incoming
    assert len(fresh) == 32


def test_binding_is_scoped_to_the_block() -> None:
    with bind_request_id("outer"):
        with bind_request_id("inner"):
            assert current_request_id() == "inner"
        assert current_request_id() == "outer"
    assert current_request_id() is None


def test_publishing_copies_the_bound_id_into_the_task_headers() -> None:
    headers: dict[str, Any] = {}

    with bind_request_id("req-1"):
        _on_publish(headers=headers)

    assert headers == {"request_id": "req-1"}


def test_publishing_outside_a_request_adds_nothing() -> None:
    headers: dict[str, Any] = {}

    _on_publish(headers=headers)

    assert headers == {}


def test_the_log_filter_puts_both_ids_on_every_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)

    with bind_request_id("req-2"):
        ContextFilter().filter(record)

    assert vars(record)["request_id"] == "req-2"
    assert vars(record)["task_id"] == "-"


def test_wsgi_middleware_binds_and_echoes_the_id() -> None:
    seen: list[str | None] = []
    sent: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(current_request_id())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = RequestIdWSGIMiddleware(app)
    wrapped({"HTTP_X_REQUEST_ID": "from-client"}, lambda status, headers: sent.append(headers))

    assert seen == ["from-client"]
    assert (HEADER, "from-client") in sent[0]
    assert current_request_id() is None


def test_asgi_middleware_binds_and_echoes_the_id() -> None:
    seen: list[str | None] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(current_request_id())
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"x-request-id", b"from-client")]}
    asyncio.run(RequestIdASGIMiddleware(app)(scope, None, send))

    assert seen == ["from-client"]
    assert (b"x-request-id", b"from-client") in sent[0]["headers"]
