"""The shop's configuration, read from the environment once.

Django settings, the web app and the Celery worker all read this one object:
environment -> `SETTINGS` -> Django settings -> Celery (through the CELERY_
namespace). Nothing else in the shop reads `os.environ`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import SharedSettings


class ShopSettings(SharedSettings):
    """The shared variables plus the shop's own (SHOP_*) and the cross-links."""

    # A database URL (postgresql://user:pw@host:5432/shop); SQLite under VAR_DIR when unset.
    shop_database_url: str | None = None
    # The database the test suite runs against; SQLite in a temporary file when unset.
    shop_test_database_url: str | None = None
    # Seconds a database connection is kept open between requests (0: one per request).
    shop_conn_max_age: int = 60
    # Required in production; local and test settings fall back to a development key.
    shop_secret_key: SecretStr | None = None
    # Production behind HTTPS: secure cookies, HSTS and a redirect from plain HTTP.
    shop_https: bool = False
    # Comma-separated host names the production site answers to.
    shop_allowed_hosts: str = "127.0.0.1,localhost"
    # The password of the `admin` account `manage.py ensure_admin` creates (make up sets it).
    shop_admin_password: SecretStr | None = None
    # Who receives the daily sales summary.
    shop_staff_email: str = "staff@example.com"
    # An order whose confirmation is still unsent this long after it was placed is
    # handed to its task again by the sweep (the broker was down at commit time).
    shop_confirmation_grace_seconds: int = Field(default=300, gt=0)

    def database_url(self) -> str:
        """The database URL to use, SQLite under VAR_DIR by default."""
        return self.shop_database_url or f"sqlite:///{self.var_dir / 'shop.sqlite3'}"


SETTINGS = ShopSettings()
