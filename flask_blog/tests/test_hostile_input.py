"""Hostile input on every form: a form error or a 4xx, never a 5xx, and nothing stored.

Each hostile request carries a valid CSRF token, so what refuses it is the form
(or the size limit, or the parser), not the token check.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from blog.extensions import db
from blog.models import ExportStatus, Post, User
from tests.conftest import AuthActions
from tests.factories import PASSWORD, ExportFactory, PostFactory, UserFactory

Fields = dict[str, str]

# Each form, with valid values for its fields.
FORMS: dict[str, Fields] = {
    "/auth/register": {
        "username": "bob",
        "email": "bob@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
    },
    "/auth/login": {"username": "alice", "password": PASSWORD},
    "/posts/new": {"title": "A title", "body": "A body"},
    "/posts/{post_id}/edit": {"title": "A title", "body": "A body"},
}

# The forms that are only a button (and the CSRF token): they ignore any body they can read.
BUTTONS = [
    "/account/exports",
    "/account/exports/{export_id}/retry",
    "/posts/{post_id}/delete",
    "/auth/logout",  # last: it ends the session the others need
]


# Each hostile request: `field` of the form holds the hostile value, the others are valid.
Hostile = Callable[[str, Fields, str], dict[str, Any]]  # (CSRF token, valid, field) -> post(**)


def _form(token: str, fields: Fields) -> dict[str, Any]:
    return {"data": {"csrf_token": token, **fields}}


def very_long_value(token: str, valid: Fields, field: str) -> dict[str, Any]:
    return _form(token, {**valid, field: "x" * 100_000})


def a_body_over_max_content_length(token: str, valid: Fields, field: str) -> dict[str, Any]:
    return _form(token, {**valid, field: "x" * 2**21})


def a_nul_character(token: str, valid: Fields, field: str) -> dict[str, Any]:
    return _form(token, {**valid, field: f"{valid[field]}\x00"})


def a_terminal_escape(token: str, valid: Fields, field: str) -> dict[str, Any]:
    return _form(token, {**valid, field: f"\x1b[2J{valid[field]}"})


def a_missing_field(token: str, valid: Fields, field: str) -> dict[str, Any]:
    return _form(token, {name: value for name, value in valid.items() if name != field})


def a_file_instead_of_text(token: str, valid: Fields, field: str) -> dict[str, Any]:
    upload = (io.BytesIO(valid[field].encode()), "field.txt")
    data = {"csrf_token": token, **valid, field: upload}
    return {"data": data, "content_type": "multipart/form-data"}


def a_json_number(token: str, valid: Fields, field: str) -> dict[str, Any]:
    return {"json": {**valid, field: 12345}, "headers": {"X-CSRFToken": token}}


def a_json_list(token: str, valid: Fields, field: str) -> dict[str, Any]:
    return {"json": list(valid.values()), "headers": {"X-CSRFToken": token}}


def malformed_json(token: str, valid: Fields, field: str) -> dict[str, Any]:
    return {"data": "{", "content_type": "application/json", "headers": {"X-CSRFToken": token}}


def non_utf8_multipart(token: str, valid: Fields, field: str) -> dict[str, Any]:
    parts = {"csrf_token": token, **valid}
    encoded = {name: value.encode() for name, value in parts.items()}
    encoded[field] = b"\xff\xfe" + encoded[field]
    body = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value)
        for name, value in encoded.items()
    )
    return {"data": body + b"--B--\r\n", "content_type": "multipart/form-data; boundary=B"}


def non_utf8_url_encoded(token: str, valid: Fields, field: str) -> dict[str, Any]:
    body = urlencode({"csrf_token": token, **valid}).encode() + b"&" + field.encode() + b"=\xff\xfe"
    return {"data": body, "content_type": "application/x-www-form-urlencoded"}


FORM_ERROR = 200  # the form again, showing what is wrong

# Each hostile request, and what every form answers it with.
HOSTILE: dict[Hostile, int] = {
    very_long_value: FORM_ERROR,
    a_body_over_max_content_length: 413,
    a_nul_character: FORM_ERROR,
    a_terminal_escape: FORM_ERROR,
    a_missing_field: FORM_ERROR,
    a_file_instead_of_text: FORM_ERROR,
    a_json_number: FORM_ERROR,  # forms read the form body only: every field is missing
    a_json_list: FORM_ERROR,
    malformed_json: FORM_ERROR,
    non_utf8_multipart: FORM_ERROR,  # the parser makes U+FFFD of the bytes: refused
    non_utf8_url_encoded: 400,  # the parser drops the whole body, CSRF token and all
}


@pytest.fixture
def ids(app: Flask, auth: AuthActions) -> dict[str, int]:
    """Alice, logged in, with a post and a failed export."""
    with app.app_context():
        alice = UserFactory.create(username="alice")
        ids = {
            "post_id": PostFactory.create(author=alice, title="Untouched", body="Untouched").id,
            "export_id": ExportFactory.create(user=alice, status=ExportStatus.FAILED).id,
        }
    auth.login("alice")
    return ids


def _stored(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        return (
            db.session.scalars(db.select(User.username).order_by(User.id)).all(),
            db.session.execute(db.select(Post.title, Post.body)).all(),
        )


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda hostile: hostile.__name__)
def test_every_field_of_every_form_refuses_hostile_input(
    app: Flask, client: FlaskClient, auth: AuthActions, ids: dict[str, int], hostile: Hostile
) -> None:
    before = _stored(app)
    for form, valid in FORMS.items():
        url = form.format(**ids)
        for field in valid:
            response = client.post(url, **hostile(auth.csrf_token(url), valid, field))

            assert response.status_code == HOSTILE[hostile], (url, field)
            if HOSTILE[hostile] == FORM_ERROR:
                assert 'class="errors"' in response.get_data(as_text=True), (url, field)
            assert _stored(app) == before, (url, field)


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda hostile: hostile.__name__)
def test_buttons_ignore_a_hostile_body_or_refuse_it(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    ids: dict[str, int],
    hostile: Hostile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("blog.account.generate_user_archive.delay", lambda user_id: None)
    for button in BUTTONS:
        response = client.post(button.format(**ids), **hostile(auth.csrf_token(), {"x": "y"}, "x"))
        assert response.status_code in (302, 400, 413), button


def test_the_longest_post_fits_in_max_content_length(
    app: Flask, auth: AuthActions, ids: dict[str, int]
) -> None:
    longest = "\N{GRINNING FACE}" * 50_000  # 4 bytes each, 12 once percent-encoded
    response = auth.post("/posts/new", {"title": "Long", "body": longest}, form="/posts/new")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(Post.body).where(Post.title == "Long")) == longest


def test_a_post_keeps_its_tabs_and_line_breaks(
    app: Flask, auth: AuthActions, ids: dict[str, int]
) -> None:
    body = "Line one\r\n\tindented line two\n"
    response = auth.post("/posts/new", {"title": "Tabs", "body": body}, form="/posts/new")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(Post.body).where(Post.title == "Tabs")) == body
