"""Settings every environment shares. Values come from `config.env.SETTINGS`."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url

from config.env import SETTINGS

APP_DIR = Path(__file__).resolve().parents[2]

DEBUG = False
SECRET_KEY = SETTINGS.shop_secret_key.get_secret_value() if SETTINGS.shop_secret_key else ""
ALLOWED_HOSTS = [host.strip() for host in SETTINGS.shop_allowed_hosts.split(",") if host.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_celery_results",
    "shop",
]

MIDDLEWARE = [
    "shop.middleware.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.shop",
            ],
        },
    },
]


def database(url: str) -> dict[str, Any]:
    """Django's DATABASES entry for `url`, with connection handling per backend."""
    config: dict[str, Any] = dict(dj_database_url.parse(url))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE takes SQLite's write lock when a transaction starts, so the
        # web process and the worker queue up instead of failing with "database
        # is locked" (SQLite ignores select_for_update). Every transaction is
        # short: none waits on the network (the confirmation's claim is a lease).
        # WAL: readers never wait for the writer, and a commit appends to the log
        # instead of rewriting pages through a rollback journal (about 0.15 ms a
        # commit instead of 0.5 ms here), durable as before (synchronous=FULL).
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL",
        }
    else:
        # Persistent connections, checked before reuse. Celery's Django fixup
        # closes connections older than CONN_MAX_AGE around every task, so the
        # worker honours the same limit.
        config["CONN_MAX_AGE"] = SETTINGS.shop_conn_max_age
        config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": database(SETTINGS.database_url())}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = SETTINGS.var_dir / "shop" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

# Logging is configured by `shared.request_id.configure_logging` in ShopConfig.ready(),
# the same way as in the worker, so every line carries the request and task ids.
LOGGING_CONFIG = None
LOG_LEVEL = SETTINGS.log_level

# Email: Django's SMTP backend, pointed at the configured server.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = SETTINGS.smtp_host
EMAIL_PORT = SETTINGS.smtp_port
EMAIL_HOST_USER = SETTINGS.smtp_username or ""
EMAIL_HOST_PASSWORD = SETTINGS.smtp_password.get_secret_value() if SETTINGS.smtp_password else ""
EMAIL_USE_TLS = SETTINGS.smtp_starttls
EMAIL_TIMEOUT = SETTINGS.smtp_timeout
DEFAULT_FROM_EMAIL = SETTINGS.smtp_sender
SERVER_EMAIL = SETTINGS.smtp_sender
EMAIL_SUBJECT_PREFIX = "[Shop] "
MANAGERS = [("Shop staff", SETTINGS.shop_staff_email)]

# Celery: layered over shared's vetted defaults by config/celery_app.py. Only what
# belongs to Django's side is here; the broker and the time limits come from the
# environment through SETTINGS, which the vetted defaults are made from.
# Results of the tasks that keep them (ignore_result=False) go to the shop's own
# database, where the admin lists them (django-celery-results).
CELERY_RESULT_BACKEND = "django-db"
# The periodic tasks live in the database and are edited in the admin; the
# data migration shop/migrations/0002 creates them.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# When the worker loses Redis, let a running confirmation finish instead of
# killing it (shared's default kills it, so it is redelivered and run again).
# Killed in the middle of the SMTP exchange, an email the server accepted would
# be sent again; left to finish, it records `confirmation_sent_at`, and the
# redelivered copy finds the email sent. The lease keeps the two from racing.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False

# The shop's own settings.
SHOP_LINKS = {
    "Blog": SETTINGS.blog_url,
    "Reports": SETTINGS.reports_url,
    "Flower": SETTINGS.flower_url,
}
# An order whose confirmation is still unsent after this long is sent again by the sweep.
SHOP_CONFIRMATION_GRACE = timedelta(seconds=SETTINGS.shop_confirmation_grace_seconds)
