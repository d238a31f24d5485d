from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from blog.extensions import db
from blog.models import Post
from tests.conftest import AuthActions
from tests.factories import PostFactory, UserFactory


def test_index_lists_everyone_s_posts_newest_first_paginated(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        titles = [PostFactory.create(title=f"Title {n}").title for n in range(7)]
    first = client.get("/").get_data(as_text=True)
    second = client.get("/?page=2").get_data(as_text=True)
    assert "Page 1 of 2" in first
    assert all(title in first for title in titles[2:])
    assert all(title in second for title in titles[:2])
    assert titles[0] not in first


def test_write_a_post(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    with app.app_context():
        UserFactory.create(username="alice")
    auth.login("alice")
    response = auth.post("/posts/new", {"title": "Hello", "body": "World"}, form="/posts/new")
    assert response.status_code == 302
    assert "World" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_post_needs_a_title(app: Flask, auth: AuthActions) -> None:
    with app.app_context():
        UserFactory.create(username="alice")
    auth.login("alice")
    response = auth.post("/posts/new", {"title": "", "body": "World"}, form="/posts/new")
    assert "This field is required." in response.get_data(as_text=True)


def test_edit_and_delete_your_own_post(app: Flask, auth: AuthActions) -> None:
    with app.app_context():
        post_id = PostFactory.create(author=UserFactory.create(username="alice")).id
    auth.login("alice")
    edit = f"/posts/{post_id}/edit"
    auth.post(edit, {"title": "New title", "body": "New body"}, form=edit)
    with app.app_context():
        post = db.session.get(Post, post_id)
        assert post is not None
        assert (post.title, post.body) == ("New title", "New body")
        assert post.updated_at is not None
    auth.post(f"/posts/{post_id}/delete")
    with app.app_context():
        assert db.session.get(Post, post_id) is None
