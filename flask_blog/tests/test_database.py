"""The blog's SQLite connections: a write-ahead log, and foreign keys enforced."""

from __future__ import annotations

import sqlite3

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, update

from blog.extensions import db
from blog.models import Export, ExportEvent, Post, User
from tests.factories import ExportEventFactory, PostFactory


@pytest.fixture
def sqlite_file(app: Flask) -> str:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's own settings")
        path = db.engine.url.database
    assert path is not None
    return path


def test_a_reader_in_a_transaction_does_not_hold_up_a_write(app: Flask, sqlite_file: str) -> None:
    with app.app_context():
        ExportEventFactory.create()
    # The export page's read, its transaction still open.
    reader = sqlite3.connect(sqlite_file, timeout=0)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT progress FROM export").fetchall() == [(0,)]
        with app.app_context():  # the worker's progress write
            db.session.execute(update(Export).values(progress=50))
            db.session.commit()
        # The reader still sees its snapshot; a new read sees the write.
        assert reader.execute("SELECT progress FROM export").fetchall() == [(0,)]
        reader.rollback()
        assert reader.execute("SELECT progress FROM export").fetchall() == [(50,)]
    finally:
        reader.close()


def test_deleting_a_user_deletes_what_is_theirs(app: Flask) -> None:
    with app.app_context():
        event = ExportEventFactory.create()
        user_id = db.session.get_one(Export, event.export_id).user_id
        PostFactory.create(author=db.session.get_one(User, user_id))
        # Deleted in SQL, not through the ORM: the database's ON DELETE CASCADE does it.
        db.session.execute(delete(User).where(User.id == user_id))
        db.session.commit()

        left = [
            db.session.scalar(select(func.count()).select_from(m))
            for m in (Post, Export, ExportEvent)
        ]
        assert left == [0, 0, 0]
