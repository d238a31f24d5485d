"""The engine and the session factory. Web requests and tasks each open their own session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from reports.config import settings


def _enable_sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web app read a report's progress while the worker writes it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _make_engine(*, lock_timeout: float = 15) -> Any:
    url = settings.database_url
    if url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        sqlite_engine = create_engine(url, connect_args={"timeout": lock_timeout})
        event.listen(sqlite_engine, "connect", _enable_sqlite_wal)
        return sqlite_engine
    return create_engine(url, pool_pre_ping=True)


engine = _make_engine()
SessionLocal = sessionmaker(engine, expire_on_commit=False)
#: The timeline's events (reports/timeline.py). On SQLite they wait at most 1 s for
#: the write lock, not the 15 s a build's writes wait: they come before the task's
#: work, and a database whose writes are held must not hold a task up event after
#: event (an event that cannot wait is dropped, and logged). PostgreSQL's inserts
#: wait for no other writer: there it is the same engine.
event_engine = _make_engine(lock_timeout=1) if engine.dialect.name == "sqlite" else engine
EventSession = sessionmaker(event_engine, expire_on_commit=False)


def commit_asynchronously(session: Session) -> None:
    """Let this transaction's commit return before PostgreSQL has written it to disk.

    For the progress writes, one after every slice, and the timeline's events:
    waiting for the disk there cost about 6 ms a commit on this project's
    machines, more than a slice's query on a small report (bench/reports.py). The
    commit is still atomic, and ordered with the others: a crash can lose only
    the last few progress writes, which the run's next write (or, the run gone,
    its redelivery) makes again, and the last few events; the commits that
    finish a report wait for the disk as usual, and with them every write
    before. SQLite has no per-transaction setting.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
