"""SQLite as the blog and the reports use it through SQLAlchemy (the shop's Django has its own).

    event.listen(engine, "connect", sqlite_pragmas)     # every connection of the app
    with engine.connect() as connection, foreign_keys_off(connection):
        ...                                             # Alembic's migrations (env.py)

Imports nothing from SQLAlchemy at run time: the shop, which has none, imports
`shared` too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """The settings every SQLite connection of an app needs: a "connect" event listener."""
    cursor = dbapi_connection.cursor()
    # Write-ahead log: a page reads a task's progress while the worker writes it,
    # and neither waits for the other's transaction to end.
    cursor.execute("PRAGMA journal_mode=WAL")
    # SQLite ignores foreign keys, ON DELETE CASCADE included, unless asked.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, foreign keys unenforced for a migration, checked at its end.

    Alembic's batch mode (SQLite has almost no ALTER TABLE) copies a table, drops
    the old one and renames the copy: with foreign keys enforced, the DROP would
    delete every row that refers to the table (ON DELETE CASCADE), as Alembic's
    batch documentation warns. SQLite ignores the pragma inside a transaction: it
    is set before the migration's, and set back on for the connection's next user.
    Other databases are left as they are.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"the migration left rows whose references are gone: {broken}")
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
