"""Alembic environment of the blog, run by Flask-Migrate (`flask db upgrade`).

The engine and the models' metadata come from the app that runs it (`current_app`),
so the migrations use the database the app is configured with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app
from sqlalchemy import Connection

config = context.config
if config.config_file_name is not None:
    # Keep the app's loggers: the tests run migrations in the same process.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate = current_app.extensions["migrate"]
engine = migrate.db.engine
target_metadata = migrate.db.metadata


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`flask db upgrade --sql`) without connecting."""
    url = engine.url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def skip_empty_revisions(context: Any, revision: Any, directives: list[Any]) -> None:
    """`flask db migrate` writes no revision when the models did not change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


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


def run_migrations_online() -> None:
    options = dict(migrate.configure_args)
    if options.get("process_revision_directives") is None:
        options["process_revision_directives"] = skip_empty_revisions
    with engine.connect() as connection, foreign_keys_off(connection):
        context.configure(connection=connection, target_metadata=target_metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
