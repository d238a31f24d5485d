"""The engine and the session factory. Web requests and tasks each open their own session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker

from reports.config import settings


def _enable_sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web app read a report's progress while the worker writes it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _make_engine() -> Any:
    url = settings.database_url
    if url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        sqlite_engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(sqlite_engine, "connect", _enable_sqlite_wal)
        return sqlite_engine
    return create_engine(url, pool_pre_ping=True)


engine = _make_engine()
SessionLocal = sessionmaker(engine, expire_on_commit=False)
