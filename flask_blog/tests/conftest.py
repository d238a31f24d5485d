"""Fixtures in the shape of Flask's tutorial: `app`, `client`, `runner` and an `auth` helper.

Tests use a SQLite file in a temporary directory, or the Postgres database
in BLOG_TEST_DATABASE_URL when it is set (CI sets it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from blog import create_app
from blog.extensions import db
from tests.factories import PASSWORD

pytest_plugins = ["shared.testing"]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return os.environ.get("BLOG_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'blog.sqlite3'}"


@pytest.fixture
def app_config(tmp_path: Path, database_url: str) -> dict[str, Any]:
    """What the tests change in the app's config; a test module may extend it."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "EXPORT_DIR": tmp_path / "exports",
        # No broker in unit tests: views are tested with the task mocked.
        "CELERY": {"broker_url": "memory://", "result_backend": "cache+memory://"},
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def routes(app: Flask, ids: Mapping[str, int]) -> list[tuple[Rule, str, str]]:
    """(rule, method, URL) of every route but static files, its arguments taken from `ids`.

    Read from the URL map, so tests that use it cover routes added later. A
    route with an argument `ids` lacks raises KeyError: a new kind of id needs
    the test's attention.
    """
    urls = app.url_map.bind("localhost")
    return [
        (rule, method, urls.build(rule.endpoint, {arg: ids[arg] for arg in rule.arguments}))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def csrf_token(client: FlaskClient, url: str, **kwargs: Any) -> str:
    """The CSRF token of the form on `url`, as a browser would send it back."""
    html = client.get(url, **kwargs).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {url}"
    return match.group(1)


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        data = {"username": username, "password": password}
        data["csrf_token"] = csrf_token(self.client, "/auth/login")
        return self.client.post("/auth/login", data=data)

    def csrf_token(self, form: str = "/") -> str:
        """A valid CSRF token, taken from the page `form`."""
        return csrf_token(self.client, form)

    def post(
        self, url: str, data: dict[str, Any] | None = None, *, form: str = "/"
    ) -> TestResponse:
        """POST `data` to `url` with a valid CSRF token taken from the page `form`."""
        return self.client.post(url, data={**(data or {}), "csrf_token": self.csrf_token(form)})

    def logout(self) -> TestResponse:
        return self.post("/auth/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)
