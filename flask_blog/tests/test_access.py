"""Owner only: another user gets a 404 on every route that names a post or an export.

The routes come from the app's URL map, so a new route that takes an id is
covered as soon as it exists; only the pages meant for everyone are listed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from blog.extensions import db
from blog.models import Export, ExportStatus, Post, utcnow
from tests.conftest import AuthActions, routes
from tests.factories import ExportFactory, PostFactory, UserFactory

# Routes with an id that anyone may see.
PUBLIC = {"blog.detail"}


def owner_only_routes(app: Flask, ids: dict[str, int]) -> list[tuple[str, str]]:
    """(method, URL) of every route with an argument but the public ones; deletions last."""
    found = [
        (method, url)
        for rule, method, url in routes(app, ids)
        if rule.arguments and rule.endpoint not in PUBLIC
    ]
    return sorted(found, key=lambda route: route[1].endswith("/delete"))


@pytest.fixture
def alices(app: Flask) -> dict[str, int]:
    """Alice's post, and her ready export with its archive on disk."""
    Path(app.config["EXPORT_DIR"], "export.zip").write_bytes(b"PK-alice")
    with app.app_context():
        alice = UserFactory.create(username="alice")
        UserFactory.create(username="mallory")
        return {
            "post_id": PostFactory.create(author=alice, title="Alice's", body="Hers").id,
            "export_id": ExportFactory.create(
                user=alice,
                status=ExportStatus.READY,
                progress=100,
                file_name="export.zip",
                expires_at=utcnow() + timedelta(hours=1),
            ).id,
        }


def _alices_things(app: Flask, ids: dict[str, int]) -> tuple[object, ...]:
    with app.app_context():
        post = db.session.get_one(Post, ids["post_id"])
        export = db.session.get_one(Export, ids["export_id"])
        return post.title, post.body, export.status, export.file_name


def test_anyone_else_gets_404_on_every_owner_only_route(
    app: Flask, auth: AuthActions, alices: dict[str, int]
) -> None:
    before = _alices_things(app, alices)
    auth.login("mallory")
    for method, url in owner_only_routes(app, alices):
        data = {"csrf_token": auth.csrf_token(), "title": "Mallory's", "body": "Mine now"}
        response = auth.client.open(url, method=method, data=data if method != "GET" else None)
        assert response.status_code == 404, (method, url)
    assert _alices_things(app, alices) == before
    assert Path(app.config["EXPORT_DIR"], "export.zip").read_bytes() == b"PK-alice"


def test_the_owner_reaches_every_owner_only_route(
    app: Flask, auth: AuthActions, alices: dict[str, int]
) -> None:
    # The same URLs work for Alice, so the 404s above are about who asks.
    auth.login("alice")
    for method, url in owner_only_routes(app, alices):
        data = {"csrf_token": auth.csrf_token()} if method != "GET" else None
        with auth.client.open(url, method=method, data=data) as response:  # closes the download
            assert response.status_code in (200, 302), (method, url)
