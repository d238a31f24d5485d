"""Settings read from the environment, once, with pydantic-settings.

Every variable is documented in `.env.example` at the repository root. The
defaults are the embedded ones of the native stack (a Redis and a mail catcher
on loopback) and hold no secret; anything with a password comes from the
environment only.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


class SharedSettings(BaseSettings):
    """What the apps and their workers need at run time; each app subclasses it to add its own."""

    # An empty variable counts as unset, so compose can pass `${VAR:-}` through
    # and the default stays here, in one place.
    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    # Celery. CELERY_BROKER_URL is also the variable Celery itself honours. The
    # result backend is CELERY_RESULT_BACKEND_URL, not CELERY_RESULT_BACKEND:
    # Celery lets that variable override any app's own choice (the shop keeps
    # its results in its database with django-celery-results).
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_result_backend_url: str = "redis://127.0.0.1:6379/1"
    celery_task_soft_time_limit: int = Field(default=240, gt=0)
    celery_task_time_limit: int = Field(default=300, gt=0)
    celery_result_expires: int = Field(default=24 * 3600, gt=0)
    # A task-sent event with every publish, so that Flower lists a task while it
    # waits in the queue, not only once a worker has received it. Off by default,
    # as in Celery: it is an extra PUBLISH on the request path, about half of
    # what a publish costs (docs/benchmarks.md).
    celery_task_send_sent_event: bool = False

    # Outgoing mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    smtp_sender: str = "Celery Reference <noreply@example.com>"

    # Public addresses of the apps and of Flower, which every app links to (pages,
    # emails, the reports' trusted origin). What only the stack's tooling reads
    # (the mail catcher's address, Flower's login) is in scripts/stack.py.
    shop_url: str = "http://127.0.0.1:8001"
    blog_url: str = "http://127.0.0.1:8002"
    reports_url: str = "http://127.0.0.1:8003"
    flower_url: str = "http://127.0.0.1:5555"

    log_level: str = "INFO"

    # Where the native stack and the apps keep files: SQLite databases, logs,
    # generated archives and reports. Defaults to var/ at the repository root.
    var_dir: Path = _REPOSITORY_ROOT / "var"
