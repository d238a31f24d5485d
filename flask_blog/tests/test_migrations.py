"""Migrations on SQLite keep the rows that refer to a table they copy (migrations/env.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import func, select

from blog.extensions import db
from blog.models import Export, ExportEvent, Post
from tests.factories import ExportEventFactory, PostFactory

#: A migration as Alembic writes one for SQLite: the table copied, the old one dropped.
COPY_USER = """
from alembic import op

revision = "copy_user"
down_revision = "{head}"


def upgrade():
    with op.batch_alter_table("user", recreate="always"):
        pass


def downgrade():
    pass
"""


def test_a_migration_that_copies_a_table_keeps_the_rows_referring_to_it(
    app: Flask, tmp_path: Path
) -> None:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("only SQLite's batch mode copies and drops a table")
        db.drop_all()
        config = app.extensions["migrate"].migrate.get_config()
        head = ScriptDirectory.from_config(config).get_current_head()
        versions = tmp_path / "versions"
        versions.mkdir()
        (versions / "copy_user.py").write_text(COPY_USER.format(head=head))
        own = Path(config.get_main_option("script_location") or "") / "versions"
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", os.pathsep.join([str(own), str(versions)]))
        command.upgrade(config, str(head))
        try:
            event = ExportEventFactory.create()
            PostFactory.create(author=db.session.get_one(Export, event.export_id).user)

            command.upgrade(config, "copy_user")

            kept = [
                db.session.scalar(select(func.count()).select_from(m))
                for m in (Post, Export, ExportEvent)
            ]
            assert kept == [1, 1, 1]
        finally:
            db.session.rollback()
            command.downgrade(config, "base")
            db.session.execute(db.text("DROP TABLE alembic_version"))
            db.session.commit()
