"""Cookies and the BLOG_HTTPS switch: Secure cookies and a trusted TLS proxy only when it is on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request, url_for
from werkzeug.test import TestResponse

from blog import create_app
from blog.extensions import db
from tests.conftest import csrf_token
from tests.factories import PASSWORD, UserFactory

PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "blog.example"}


def _with_probe(app: Flask) -> Flask:
    """`app` with a page that shows how it sees the request; add before any request."""

    @app.get("/_probe")
    def probe() -> dict[str, Any]:
        return {"secure": request.is_secure, "home": url_for("blog.index", _external=True)}

    return app


def _session_cookie(response: TestResponse) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1, response.headers
    return cookies[0]


@pytest.fixture
def https_app(app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("BLOG_HTTPS", "true")
    app = _with_probe(create_app(app_config))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def test_the_session_cookie_is_http_only_and_same_site_lax(app: Flask) -> None:
    cookie = _session_cookie(app.test_client().get("/auth/login"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP (the native stack): a Secure cookie would be lost


def test_without_blog_https_forwarded_headers_are_ignored(app: Flask) -> None:
    body = _with_probe(app).test_client().get("/_probe", headers=PROXY_HEADERS).get_json()
    assert body == {"secure": False, "home": "http://localhost/"}


def test_blog_https_makes_cookies_secure(https_app: Flask) -> None:
    cookie = _session_cookie(https_app.test_client().get("/auth/login", headers=PROXY_HEADERS))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert https_app.config["REMEMBER_COOKIE_SECURE"] is True
    assert https_app.config["PREFERRED_URL_SCHEME"] == "https"


def test_blog_https_trusts_the_proxy_s_scheme_and_host(https_app: Flask) -> None:
    body = https_app.test_client().get("/_probe", headers=PROXY_HEADERS).get_json()
    assert body == {"secure": True, "home": "https://blog.example/"}


def test_blog_https_logs_in_through_the_proxy(https_app: Flask) -> None:
    # Over HTTPS, Flask-WTF also wants a Referer from the same host: the public one.
    with https_app.app_context():
        UserFactory.create(username="alice")
    client = https_app.test_client()
    headers = {**PROXY_HEADERS, "Referer": "https://blog.example/auth/login"}
    token = csrf_token(client, "/auth/login", headers=headers)
    data = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    response = client.post("/auth/login", data=data, headers=headers)
    assert response.status_code == 302, response.get_data(as_text=True)
