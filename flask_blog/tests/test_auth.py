from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from blog.extensions import db
from blog.models import User
from tests.conftest import AuthActions, csrf_token
from tests.factories import PASSWORD, UserFactory
from tests.test_urls import ELSEWHERE


def _register(client: FlaskClient, **overrides: str) -> str:
    data = {
        "username": "alice",
        "email": "alice@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
        "csrf_token": csrf_token(client, "/auth/register"),
        **overrides,
    }
    return client.post("/auth/register", data=data).get_data(as_text=True)


def test_register_stores_a_hashed_password_and_logs_in(app: Flask, client: FlaskClient) -> None:
    _register(client)
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "alice"))
        assert user is not None
        assert PASSWORD not in user.password_hash
        assert user.check_password(PASSWORD)
    assert "Account (alice)" in client.get("/").get_data(as_text=True)


def test_register_shows_validation_errors(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        UserFactory.create(username="alice")
    html = _register(client, confirm="something else")
    assert "Passwords differ." in html
    html = _register(client, email="other@example.com")
    assert "already registered" in html
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


def test_login_and_logout(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    with app.app_context():
        UserFactory.create(username="bob")
    assert "Wrong username or password." in auth.login("bob", "wrong").get_data(as_text=True)
    assert auth.login("bob").status_code == 302
    assert "Account (bob)" in client.get("/").get_data(as_text=True)
    auth.logout()
    assert "Log in" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("target", ELSEWHERE)
def test_login_never_redirects_to_another_site(
    app: Flask, client: FlaskClient, target: str
) -> None:
    with app.app_context():
        UserFactory.create(username="bob")
    data = {
        "username": "bob",
        "password": PASSWORD,
        "csrf_token": csrf_token(client, "/auth/login"),
    }
    response = client.post(f"/auth/login?{urlencode({'next': target})}", data=data)
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("query", ["next=%2F%2Fevil.example", "next=/%5Cevil.example"])
def test_an_encoded_next_is_checked_once_decoded(
    app: Flask, client: FlaskClient, query: str
) -> None:
    with app.app_context():
        UserFactory.create(username="bob")
    data = {
        "username": "bob",
        "password": PASSWORD,
        "csrf_token": csrf_token(client, "/auth/login"),
    }
    assert client.post(f"/auth/login?{query}", data=data).headers["Location"] == "/"


def test_login_follows_a_next_page_on_this_site(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        UserFactory.create(username="bob")
    data = {
        "username": "bob",
        "password": PASSWORD,
        "csrf_token": csrf_token(client, "/auth/login"),
    }
    response = client.post("/auth/login?next=/account/", data=data)
    assert response.headers["Location"] == "/account/"


def test_pages_that_need_a_login_redirect_to_it(client: FlaskClient) -> None:
    for url in ("/account/", "/posts/new", "/account/exports/1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/login")
