"""Malformed, oversized and hostile input: every form and JSON endpoint answers 4xx, never 5xx.

A page form may also answer with its page and the field errors (422). The
endpoints are listed here by hand because each needs its own fields; the
CSRF and ownership tests walk the app's routes instead.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from unittest.mock import MagicMock

import pytest
from fastapi.testclient import TestClient

from reports import service
from reports.models import Report, User
from reports.schemas import MAX_BODY_BYTES

MakeReport = Callable[..., Report]
FORM = "application/x-www-form-urlencoded"
TODAY = dt.datetime.now(dt.UTC).date().isoformat()

#: Each form, with values a person could send.
FORMS: dict[str, dict[str, str]] = {
    "/login": {"username": "alice", "password": "correct horse battery"},
    "/register": {"username": "mallory", "password": "a-long-password"},
    "/reports": {
        "report_type": "sales_summary",
        "format": "csv",
        "date_from": "2024-01-01",
        "date_to": TODAY,
        "period": "month",
    },
}
JSON_REQUEST = {**FORMS["/reports"]}

#: Strings no field expects.
NASTY_STRINGS = [
    "",
    " ",
    "x" * 10_000,
    "\x00",
    "alice\x00admin",
    "\x1b[31mred\x1b[0m",
    "line\r\nSet-Cookie: a=b",
    "\ud800",  # a lone surrogate: no UTF-8 encoding exists
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "\U0001d566\U0001d55f\u2713 \u202ereversed",  # look-alikes, a right-to-left override
    "9" * 400,
    "2024-02-30",
    "-0001-01-01",
]
#: JSON values of every other type.
WRONG_TYPES: list[Any] = [None, 0, -1, 2**64, 1.5, True, [], ["csv"], {}, {"$gt": ""}]


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> MagicMock:
    mock = MagicMock()
    monkeypatch.setattr(service, "build_report", mock)
    return mock


def assert_refused_politely(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"


def form_body(values: dict[str, str]) -> bytes:
    """Percent-encode like a browser would, but let a lone surrogate through as its raw bytes."""
    from urllib.parse import quote_plus

    return "&".join(
        f"{quote_plus(key)}={quote_plus(value, errors='surrogatepass')}"
        for key, value in values.items()
    ).encode()


@pytest.mark.parametrize("path", list(FORMS))
def test_forms_take_any_string_in_any_field(
    client: TestClient, alice: User, queue: MagicMock, path: str
) -> None:
    for field in FORMS[path]:
        for nasty in NASTY_STRINGS:
            values = {**FORMS[path], field: nasty}
            response = client.post(
                path,
                content=form_body(values),
                headers={"content-type": FORM},
                follow_redirects=False,
            )
            assert_refused_politely(response, f"{path} {field}={nasty[:20]!r}")


@pytest.mark.parametrize("path", list(FORMS))
def test_forms_take_missing_repeated_and_unknown_fields(
    client: TestClient, alice: User, queue: MagicMock, path: str
) -> None:
    for field in FORMS[path]:
        missing = {k: v for k, v in FORMS[path].items() if k != field}
        response = client.post(path, data=missing, follow_redirects=False)
        assert_refused_politely(response, f"{path} without {field}")
    repeated = "&".join(f"{k}={v}&{k}=again" for k, v in FORMS[path].items())
    for body in (repeated, "no-equals-sign", "=&=&", "%zz=%", "a=" + "%00" * 100):
        response = client.post(
            path,
            content=body,
            headers={"content-type": FORM},
            follow_redirects=False,
        )
        assert_refused_politely(response, f"{path} {body[:30]!r}")


def test_the_report_form_shows_its_errors_on_the_page(
    client: TestClient, alice: User, queue: MagicMock
) -> None:
    values = {**FORMS["/reports"], "format": "\x00", "date_to": "x" * 10_000}
    response = client.post("/reports", data=values)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="format-error"' in response.text
    assert 'id="date_to-error"' in response.text
    queue.apply_async.assert_not_called()


def test_a_blank_username_is_refused(client: TestClient) -> None:
    form = {"username": "   ", "password": "a-long-password"}
    response = client.post("/register", data=form)
    assert (response.status_code, "Choose a username." in response.text) == (422, True)


def test_a_username_with_control_characters_is_refused(client: TestClient) -> None:
    for username in ("\x00", "eve\x00", "eve\nadmin", "\x7f"):
        form = {"username": username, "password": "a-long-password"}
        assert client.post("/register", data=form).status_code == 422
        assert client.post("/login", data=form).status_code == 422


def test_the_json_endpoint_takes_any_value_in_any_field(
    client: TestClient, alice: User, queue: MagicMock
) -> None:
    for field in JSON_REQUEST:
        for value in [*NASTY_STRINGS, *WRONG_TYPES]:
            body = json.dumps({**JSON_REQUEST, field: value}).encode()
            response = client.post(
                "/api/reports", content=body, headers={"content-type": "application/json"}
            )
            assert_refused_politely(response, f"{field}={value!r:.30}")
            assert response.status_code in {202, 422}, (field, value, response.text)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'"a string"',
        b"{",
        b'{"report_type": "sales_summary",}',
        b"\xff\xfe\x00{",  # not UTF-8
        '{"report_type": "sales_summary"}'.encode("utf-16"),
        b'{"a": ' * 10_000 + b"1" + b"}" * 10_000,  # deep nesting
        b'{"report_type": "NaN", "format": NaN}',
    ],
)
def test_the_json_endpoint_takes_any_body(
    client: TestClient, alice: User, queue: MagicMock, body: bytes
) -> None:
    for content_type in ("application/json", "text/plain", FORM):
        response = client.post("/api/reports", content=body, headers={"content-type": content_type})
        assert 400 <= response.status_code < 500, (content_type, response.text[:300])
    queue.apply_async.assert_not_called()


@pytest.mark.parametrize("path", ["/api/reports", *FORMS])
def test_a_huge_body_is_refused_before_it_is_read(
    client: TestClient, alice: User, queue: MagicMock, path: str
) -> None:
    content_type = {"content-type": "application/json" if path.startswith("/api") else FORM}
    huge = b"a=" + b"x" * (MAX_BODY_BYTES + 1)
    assert client.post(path, content=huge, headers=content_type).status_code == 413

    def streamed() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY_BYTES // 1000 + 2):
            yield b"x" * 1000

    assert client.post(path, content=streamed(), headers=content_type).status_code == 413


def test_bodies_where_none_is_expected_are_ignored(
    client: TestClient, alice: User, make_report: MakeReport, queue: MagicMock
) -> None:
    report = make_report(alice)
    for path in (f"/api/reports/{report.id}/cancel", f"/reports/{report.id}/retry", "/logout"):
        response = client.post(path, content=b"\xff" * 100, follow_redirects=False)
        assert_refused_politely(response, path)
