"""The blog's settings: the shared ones plus the blog's own, read from the environment once.

`create_app` maps them into `app.config`; the worker builds the same app
(`make_celery.py`), so the web process and the worker read one configuration.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from shared.celery_app import visibility_timeout
from shared.settings import SharedSettings

# Added to the bounds the export reaper waits for: room for clocks that differ
# between the worker's host and beat's, and for a commit in flight.
REAPER_MARGIN = timedelta(minutes=1)


class BlogSettings(SharedSettings):
    # Required outside tests; `create_app` refuses to start without it.
    blog_secret_key: SecretStr | None = None
    # Defaults to a SQLite file under VAR_DIR; postgresql://... URLs work too.
    blog_database_url: str | None = None
    blog_posts_per_page: int = Field(default=5, gt=0)
    blog_export_ttl_hours: int = Field(default=24, gt=0)
    # The seeded demo account (`flask --app blog seed`); demo data, not a secret.
    blog_demo_password: str = "demo"  # noqa: S105
    # Served over HTTPS through a TLS proxy: Secure cookies, https URLs, and the
    # proxy's X-Forwarded-Proto and X-Forwarded-Host trusted (ProxyFix, in create_app).
    blog_https: bool = False

    @property
    def blog_var_dir(self) -> Path:
        return self.var_dir / "blog"

    def database_uri(self) -> str:
        # postgresql:// URLs use psycopg 3, SQLAlchemy 2.1's default PostgreSQL driver.
        if self.blog_database_url:
            return self.blog_database_url
        return f"sqlite:///{self.var_dir / 'blog.sqlite3'}"

    def flask_config(self) -> dict[str, Any]:
        """The settings as Flask config keys; `CELERY` is layered onto the shared Celery config."""
        secret_key = self.blog_secret_key.get_secret_value() if self.blog_secret_key else None
        return {
            "SECRET_KEY": secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_uri(),
            # A pooled connection the server dropped (a restart, an idle timeout) is
            # replaced when checked out, instead of failing the next request or task.
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "POSTS_PER_PAGE": self.blog_posts_per_page,
            # Any larger request body is a 413. The largest form, a post of 50,000
            # characters of up to 4 bytes, percent-encoded to 12, takes 600 kB.
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            "EXPORT_DIR": self.blog_var_dir / "exports",
            "EXPORT_TTL": timedelta(hours=self.blog_export_ttl_hours),
            # The reaper (tasks.delete_expired_exports) fails an export still running
            # this long after its run started, or still queued this long after it was
            # asked for. Redis hands a message whose worker died to another worker
            # after the visibility timeout, and that run starts the export afresh
            # (a new started_at): so a killed run is resumed, not failed, and only an
            # export no delivery will ever finish (the hard time limit ended its run,
            # Redis lost its message) outlives the deadline.
            "EXPORT_RUN_DEADLINE": timedelta(seconds=visibility_timeout(self)) + REAPER_MARGIN,
            "EXPORT_QUEUE_DEADLINE": timedelta(seconds=visibility_timeout(self)) + REAPER_MARGIN,
            "DEMO_PASSWORD": self.blog_demo_password,
            "SHOP_URL": self.shop_url,
            "BLOG_URL": self.blog_url,
            "REPORTS_URL": self.reports_url,
            "FLOWER_URL": self.flower_url,
            **self._https_config(),
            "CELERY": {
                # Beat runs as its own service (`bin/beat`), exactly one; see tasks.py.
                "beat_schedule": {
                    # Every minute, so a stuck export fails within a minute of its deadline.
                    "delete-expired-exports": {
                        "task": "blog.tasks.delete_expired_exports",
                        "schedule": 60,
                    }
                },
                "beat_schedule_filename": str(self.blog_var_dir / "celerybeat-schedule"),
            },
        }

    def _https_config(self) -> dict[str, Any]:
        return {
            "HTTPS": self.blog_https,
            "PREFERRED_URL_SCHEME": "https" if self.blog_https else "http",
            # The session cookie (login, CSRF token): no script reads it, other
            # sites' forms and frames do not get it (Lax), and only HTTPS carries it
            # when the site is served over HTTPS.
            "SESSION_COOKIE_SECURE": self.blog_https,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            # The same for Flask-Login's remember-me cookie, should login ever offer it.
            "REMEMBER_COOKIE_SECURE": self.blog_https,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
        }
