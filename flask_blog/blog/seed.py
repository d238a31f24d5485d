"""`flask --app blog seed`: a demo user with a handful of posts, only into an empty database."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from blog.extensions import db
from blog.models import Post, User

DEMO_POSTS = [
    ("Hello, blog", "This blog shows Celery inside a Flask application factory."),
    (
        "Tasks get ids, not objects",
        "`generate_user_archive.delay(current_user.id)` sends a number over the broker. "
        "The worker loads the user itself, from the same database, in the app context.",
    ),
    (
        "Exporting your data",
        "Open *Account* and press *Export my data*: a worker writes a zip of your profile "
        "and posts while the page shows its progress, then emails you a link.",
    ),
    ("Archives expire", "A periodic task deletes archives, and their rows, once they expire."),
    ("One export at a time", "Asking twice while an export runs shows the one already running."),
]


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Create the demo user and posts when there are no users yet (safe to run every start)."""
    if db.session.scalar(select(func.count()).select_from(User)):
        click.echo("database has users: not seeding")
        return
    demo = User(username="demo", email="demo@example.com")
    demo.set_password(current_app.config["DEMO_PASSWORD"])
    demo.posts = [Post(title=title, body=body) for title, body in DEMO_POSTS]
    db.session.add(demo)
    db.session.commit()
    click.echo(f"seeded user 'demo' with {len(DEMO_POSTS)} posts")
