"""Alembic environment: the URL and the engine come from the app's one settings object."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from reports.config import settings
from reports.db import engine
from reports.models import Base

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


@contextmanager
def foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, foreign keys unenforced for the migration, checked at its end.

    Batch mode (SQLite has almost no ALTER TABLE) copies a table, drops the old
    one and renames the copy: with foreign keys enforced, the DROP would delete
    every row that refers to the table (ON DELETE CASCADE), as Alembic's batch
    documentation warns. SQLite ignores the pragma inside a transaction: it is
    set before the migration's, and set back on for the connection's next user.
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


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`) without connecting."""
    context.configure(
        url=settings.database_url, target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with engine.connect() as connection, foreign_keys_off(connection):
        # Batch mode lets ALTER TABLE migrations work on SQLite too.
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
