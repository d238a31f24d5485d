"""The Flask extensions, created unbound here and bound to an app in `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import flask_login
from flask import Flask
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase

from shared.sqlite import sqlite_pragmas


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
# Batch mode lets Alembic alter tables on SQLite, which has almost no ALTER TABLE.
migrate = Migrate(render_as_batch=True)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
csrf = CSRFProtect()

View = TypeVar("View", bound=Callable[..., Any])


def init_db(app: Flask) -> None:
    """Bind `db` to `app`; a SQLite database gets the pragmas every connection needs."""
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", sqlite_pragmas)


def login_required(view: View) -> View:
    """Flask-Login's `login_required`, with the view's own type: Flask-Login ships none."""
    return cast(View, flask_login.login_required(view))
