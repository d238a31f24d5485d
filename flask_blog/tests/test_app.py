from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from blog import create_app
from blog.extensions import db
from blog.models import User


def test_config_comes_from_the_argument(app: Flask, database_url: str) -> None:
    assert app.testing
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url


def test_a_secret_key_is_required(
    app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLOG_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="BLOG_SECRET_KEY"):
        create_app({**app_config, "SECRET_KEY": None})


def test_celery_app_is_an_extension_on_the_blog_queue(app: Flask) -> None:
    celery_app = app.extensions["celery"]
    assert celery_app.conf.task_default_queue == "blog"
    assert celery_app.conf.task_serializer == "json"
    assert "blog.tasks.generate_user_archive" in celery_app.tasks


def test_flasks_celery_config_is_layered_over_the_vetted_defaults(app: Flask) -> None:
    conf = app.extensions["celery"].conf
    # app.config["CELERY"] (the tests give a broker in memory) wins, key by key...
    assert conf.broker_url == app.config["CELERY"]["broker_url"] == "memory://"
    # ...and the vetted values it does not set stay.
    assert conf.accept_content == ["json"]
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit


def test_home_page_links_to_the_other_apps(app: Flask, client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    for key in ("SHOP_URL", "REPORTS_URL", "FLOWER_URL"):
        assert f'href="{app.config[key]}"' in html


def test_responses_carry_a_request_id(client: FlaskClient) -> None:
    response = client.get("/", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


def test_migrations_match_the_models(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        db.drop_all()
    try:
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        result = runner.invoke(args=["db", "check"])
        assert result.exit_code == 0, result.output
    finally:
        assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
        with app.app_context():
            db.session.execute(db.text("DROP TABLE alembic_version"))
            db.session.commit()


def test_the_release_migrates_an_empty_database_then_seeds_it_once(
    app: Flask, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        db.drop_all()
    try:
        first = runner.invoke(args=["release"])
        assert first.exit_code == 0, first.output
        assert "seeded user 'demo'" in first.output
        second = runner.invoke(args=["release"])
        assert second.exit_code == 0, second.output
        assert "not seeding" in second.output
        assert runner.invoke(args=["db", "check"]).exit_code == 0
    finally:
        assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
        with app.app_context():
            db.session.execute(db.text("DROP TABLE alembic_version"))
            db.session.commit()


def test_a_connection_the_database_dropped_is_replaced_before_use(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("only a database server drops connections: set BLOG_TEST_DATABASE_URL")
        first = db.session.scalar(db.text("SELECT pg_backend_pid()"))
        db.session.commit()  # its connection goes back to the pool
        # As a server restart or an idle timeout would: the pooled connection dies.
        other = db.create_engine(db.engine.url)
        with other.begin() as connection:
            connection.execute(db.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        other.dispose()

        assert db.session.scalar(db.text("SELECT pg_backend_pid()")) != first


def test_seed_creates_the_demo_user_once(app: Flask, runner: FlaskCliRunner) -> None:
    assert "seeded user 'demo'" in runner.invoke(args=["seed"]).output
    assert "not seeding" in runner.invoke(args=["seed"]).output
    with app.app_context():
        demo = db.session.scalar(db.select(User).where(User.username == "demo"))
        assert demo is not None
        assert demo.check_password("demo")
        assert len(demo.posts) == 5
