"""The test suite: `cd django_shop && uv run pytest`.

SQLite in a temporary *file* by default, so a real Celery worker started by
an integration test sees the same data; SHOP_TEST_DATABASE_URL points the
suite at Postgres instead (CI does).
"""

import os
import tempfile
from pathlib import Path

from config.env import SETTINGS
from config.settings.base import *  # noqa: F403
from config.settings.base import database

SECRET_KEY = "django-insecure-test-only"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

_test_sqlite = Path(tempfile.gettempdir()) / f"shop-test-{os.getpid()}.sqlite3"
DATABASES = {"default": database(SETTINGS.shop_test_database_url or f"sqlite:///{_test_sqlite}")}
DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files from the apps' folders: tests never run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
