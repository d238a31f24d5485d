"""The blog: a Flask application factory whose Celery tasks run inside the app context."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from blog import account, auth, health, posts, release, seed, timeline
from blog.celery_app import celery_init_app
from blog.extensions import csrf, db, init_db, login_manager, migrate
from blog.models import User
from blog.settings import BlogSettings
from blog.urls import IdConverter
from shared.request_id import RequestIdWSGIMiddleware, configure_logging

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment; `config` overrides any key (tests use it)."""
    settings = BlogSettings()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config.from_mapping(settings.flask_config())
    if config is not None:
        app.config.from_mapping(config)
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("BLOG_SECRET_KEY is not set")
    # Also creates VAR_DIR and VAR_DIR/blog, where the SQLite file and beat's schedule live.
    Path(app.config["EXPORT_DIR"]).mkdir(parents=True, exist_ok=True)

    init_db(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    login_manager.init_app(app)
    csrf.init_app(app)
    celery_init_app(app, settings)
    # Web and worker both build the app here: each records the tasks' timeline.
    timeline.init_app(app)

    # Every id in a route is `<id:...>`: bounded, so a huge number is a 404, not an OverflowError.
    app.url_map.converters["id"] = IdConverter
    for blueprint in (auth.bp, posts.bp, account.bp, health.bp):
        app.register_blueprint(blueprint)
    app.cli.add_command(seed.seed_command)
    app.cli.add_command(release.release_command)

    @app.context_processor
    def app_links() -> dict[str, str]:
        keys = ("SHOP_URL", "REPORTS_URL", "FLOWER_URL")
        return {key.lower(): app.config[key] for key in keys}

    if app.config["HTTPS"]:
        # Behind one TLS proxy: take the scheme and host it forwards, so that
        # request.is_secure, url_for and CSRF's same-origin check see https and the
        # public host. Without a proxy in front, anyone could send those headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.wsgi_app = RequestIdWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


login_manager.user_loader(load_user)
