"""The one settings object of the reports app, read by the web app AND the worker.

`settings = Settings()` is imported by `reports.main` (the web app), by
`reports.db` (both) and by `reports.celery_app` (the worker), so a variable is
read once, from the environment, and both processes agree on it.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.settings import SharedSettings


class Settings(SharedSettings):
    """The shared settings plus what only the reports app needs."""

    reports_env: Literal["development", "production"] = "development"
    # Signs the session cookie. Required in production; in development a
    # missing key gets a random one per process (sessions end on restart).
    reports_secret_key: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32))
    )
    # Default: SQLite under VAR_DIR. postgresql:// URLs use psycopg 3.
    reports_database_url: str | None = None
    # Rows of demo sales data `bin/migrate` seeds into an empty database.
    reports_seed_rows: int = Field(default=100_000, ge=0, le=10_000_000)
    # Told (POST, JSON) when a report is ready, as a JSON list: '["https://..."]'.
    reports_webhook_urls: list[str] = []

    @model_validator(mode="after")
    def _production_needs_a_secret_key(self) -> Settings:
        given = "reports_secret_key" in self.model_fields_set
        if self.reports_env == "production" and (not given or len(self.reports_secret_key) < 32):
            raise ValueError("REPORTS_SECRET_KEY (32+ characters) is required in production")
        return self

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; a plain postgresql:// URL is pinned to psycopg 3."""
        url = self.reports_database_url or f"sqlite:///{self.var_dir / 'reports.sqlite3'}"
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url

    @property
    def files_dir(self) -> Path:
        """Where finished report files are kept."""
        return self.var_dir / "reports" / "files"


settings = Settings()
