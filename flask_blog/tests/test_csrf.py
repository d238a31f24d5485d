"""Every form that changes something needs the CSRF token of a page this site served."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from flask import Flask
from flask.testing import FlaskClient

from blog.extensions import db
from blog.models import Post
from tests.conftest import AuthActions
from tests.factories import PostFactory, UserFactory


@pytest.fixture
def logged_in(app: Flask, auth: AuthActions) -> int:
    with app.app_context():
        post = PostFactory(author=UserFactory(username="alice"))
        post_id: int = post.id
    auth.login("alice")
    return post_id


@pytest.mark.parametrize(
    "url",
    ["/posts/new", "/posts/{id}/edit", "/posts/{id}/delete", "/account/exports", "/auth/logout"],
)
def test_a_post_without_the_token_is_refused(
    app: Flask, client: FlaskClient, logged_in: int, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    delay = MagicMock()
    monkeypatch.setattr("blog.account.generate_user_archive.delay", delay)
    data = {"title": "t", "body": "b", "csrf_token": "forged"}
    response = client.post(url.format(id=logged_in), data=data)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    delay.assert_not_called()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Post)) == 1


def test_the_login_form_needs_the_token_too(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        UserFactory(username="alice")
    response = client.post("/auth/login", data={"username": "alice", "password": "x"})
    assert response.status_code == 400
