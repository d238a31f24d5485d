"""The one settings object: secrets, database URLs, file locations."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import create_engine, text

from reports.config import Settings
from reports.db import SessionLocal, engine


def test_production_requires_a_real_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPORTS_SECRET_KEY")
    with pytest.raises(ValidationError, match="REPORTS_SECRET_KEY"):
        Settings(reports_env="production")
    with pytest.raises(ValidationError, match="REPORTS_SECRET_KEY"):
        Settings(reports_env="production", reports_secret_key=SecretStr("short"))
    strong = SecretStr("k" * 32)
    settings = Settings(reports_env="production", reports_secret_key=strong)
    assert settings.reports_secret_key == strong


def test_development_makes_up_a_key_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPORTS_SECRET_KEY")
    first = Settings().reports_secret_key.get_secret_value()
    assert len(first) >= 32
    assert first != Settings().reports_secret_key.get_secret_value()


def test_database_url_defaults_to_sqlite_under_var_dir(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, reports_database_url=None)
    assert settings.database_url == f"sqlite:///{tmp_path / 'reports.sqlite3'}"
    assert settings.files_dir == tmp_path / "reports" / "files"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_urls_use_psycopg_3(scheme: str) -> None:
    settings = Settings(reports_database_url=f"{scheme}://user:pw@db:5432/reports")
    assert settings.database_url == "postgresql+psycopg://user:pw@db:5432/reports"


def test_a_connection_the_database_dropped_is_replaced_before_use() -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("only a database server drops connections: set REPORTS_TEST_DATABASE_URL")
    with SessionLocal() as session:
        first = session.scalar(text("SELECT pg_backend_pid()"))
    # As a server restart or an idle timeout would: the pooled connection dies.
    other = create_engine(engine.url)
    with other.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    other.dispose()

    with SessionLocal() as session:
        assert session.scalar(text("SELECT pg_backend_pid()")) != first
