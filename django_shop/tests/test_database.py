"""The shop's SQLite connections: write-ahead log, immediate write lock."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def sqlite() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's journal mode")


@pytest.mark.usefixtures("sqlite")
def test_sqlite_writes_through_its_write_ahead_log() -> None:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone() == ("wal",)
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone() == (2,)  # FULL: every commit is on disk when it returns
