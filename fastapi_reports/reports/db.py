"""The engine and the session factory. Web requests and tasks each open their own session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from reports.config import settings
from shared.sqlite import sqlite_pragmas

#: How every PostgreSQL connection of the app starts. psycopg prepares a statement
#: on the server once it has run five times, and after five more runs PostgreSQL
#: may plan it once for all parameters: a generic plan, which for a report's
#: slices (`day_totals_query`, a range of dates) it guesses from default
#: selectivities. Each slice's own custom plan, made for its dates, took 0.6 of
#: the generic plan's time at 10M sales (66 ms against 127 ms; bench/reports.py):
#: planning a statement again costs a fraction of a millisecond.
POSTGRESQL_CONNECT_ARGS: dict[str, Any] = {"options": "-c plan_cache_mode=force_custom_plan"}


def make_engine(url: str, *, lock_timeout: float = 15, **options: Any) -> Engine:
    """An engine for `url`: SQLite in WAL mode, waiting `lock_timeout` s for its write
    lock, with foreign keys on; PostgreSQL with POSTGRESQL_CONNECT_ARGS.
    """
    if url.startswith("sqlite"):
        sqlite_engine = create_engine(url, connect_args={"timeout": lock_timeout}, **options)
        event.listen(sqlite_engine, "connect", sqlite_pragmas)
        return sqlite_engine
    return create_engine(url, connect_args=POSTGRESQL_CONNECT_ARGS, **options)


def _make_engine(*, lock_timeout: float = 15) -> Engine:
    if settings.database_url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        return make_engine(settings.database_url, lock_timeout=lock_timeout)
    return make_engine(settings.database_url, pool_pre_ping=True)


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


def query_in_one_process(session: Session) -> None:
    """Run this transaction's queries without PostgreSQL's parallel workers.

    For a split report's parts, where the Celery worker's processes are the
    parallelism: each part is one backend on one core, so a report uses as many
    cores as the worker has processes. With parallel query left on, each part's
    slice already ran on three backends (a leader and two workers), and on this
    project's 2-core machines a split over 2 worker processes took 1.12 times
    what 1 process took; with it off, 0.55 to 0.6 (bench/reports.py, 10M sales). The
    single task keeps parallel query: it is the only query of its report. SQLite
    runs every query in its caller's thread.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
