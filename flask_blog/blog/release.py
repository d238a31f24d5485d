"""`flask --app blog release`: the blog's one-shot release step, in one process.

Upgrade the database to the latest migration, then seed it if it is empty: the
two commands `flask db upgrade` and `flask seed`, run here one after the other so
that the app and its Celery app load once instead of once per step. bin/migrate
runs it before any web, worker or beat process starts.
"""

from __future__ import annotations

import click
import flask_migrate
from flask.cli import with_appcontext

from blog.seed import seed_command


@click.command("release")
@with_appcontext
def release_command() -> None:
    """Migrate to the latest revision, then seed an empty database."""
    flask_migrate.upgrade()
    click.get_current_context().invoke(seed_command)
