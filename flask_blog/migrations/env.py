"""Alembic environment of the blog, run by Flask-Migrate (`flask db upgrade`).

The engine and the models' metadata come from the app that runs it (`current_app`),
so the migrations use the database the app is configured with.
"""

from __future__ import annotations

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app

from shared.sqlite import foreign_keys_off

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
