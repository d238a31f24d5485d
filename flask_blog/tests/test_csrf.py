"""Every state-changing route refuses a request without this site's CSRF token.

The routes come from the app's URL map: a new POST, PUT, PATCH or DELETE route
without CSRF protection fails here, with no list to keep up to date.
"""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from flask import Flask
from flask.testing import FlaskClient

from blog.extensions import db
from blog.models import ExportStatus, Post, User
from tests.conftest import AuthActions, routes
from tests.factories import PASSWORD, ExportFactory, PostFactory, UserFactory

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def state_changing_routes(app: Flask, ids: dict[str, int]) -> list[tuple[str, str, str]]:
    """(endpoint, method, URL) of every POST, PUT, PATCH and DELETE route."""
    return [
        (rule.endpoint, method, url)
        for rule, method, url in routes(app, ids)
        if method in STATE_CHANGING
    ]


@pytest.fixture
def ids(app: Flask, auth: AuthActions) -> dict[str, int]:
    """Alice, logged in, with a post and a failed export (so retrying it is possible)."""
    with app.app_context():
        alice = UserFactory.create(username="alice")
        ids = {
            "post_id": PostFactory.create(author=alice).id,
            "export_id": ExportFactory.create(user=alice, status=ExportStatus.FAILED).id,
        }
    auth.login("alice")
    return ids


def _counts(app: Flask) -> tuple[int | None, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(db.select(db.func.count()).select_from(model))
            for model in (User, Post)
        )


@pytest.mark.parametrize("token", [None, "forged"])
def test_every_state_changing_route_refuses_a_request_without_the_token(
    app: Flask,
    client: FlaskClient,
    ids: dict[str, int],
    token: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delay = MagicMock()
    monkeypatch.setattr("blog.account.generate_user_archive.delay", delay)
    # Valid for any of the forms, so only the token is missing.
    data = {"username": "bob", "email": "bob@example.com", "password": PASSWORD}
    data |= {"confirm": PASSWORD, "title": "t", "body": "b"}
    if token is not None:
        data["csrf_token"] = token
    before = _counts(app)

    routes = state_changing_routes(app, ids)
    for _, method, url in routes:
        response = client.open(url, method=method, data=data)
        assert response.status_code == 400, (method, url)
        assert "CSRF" in response.get_data(as_text=True), (method, url)

    delay.assert_not_called()
    assert _counts(app) == before
    # The enumeration finds the routes this test was written for.
    assert {endpoint for endpoint, _, _ in routes} >= {
        "auth.register",
        "auth.login",
        "auth.logout",
        "blog.create",
        "blog.edit",
        "blog.delete",
        "account.start_export",
        "account.retry_export",
    }


def test_the_same_requests_with_the_token_pass_the_check(
    app: Flask, auth: AuthActions, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("blog.account.generate_user_archive.delay", MagicMock())
    # Logout last: the others need the session.
    routes = sorted(state_changing_routes(app, ids), key=lambda route: route[0] == "auth.logout")
    for _, method, url in routes:
        token = auth.csrf_token()
        response = auth.client.open(url, method=method, data={"csrf_token": token})
        assert response.status_code != 400, (method, url)
