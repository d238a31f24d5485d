"""Development on one machine: `make up`, `manage.py runserver`."""

from config.env import SETTINGS
from config.settings.base import *  # noqa: F403

DEBUG = True
SECRET_KEY = (
    SETTINGS.shop_secret_key.get_secret_value()
    if SETTINGS.shop_secret_key
    else "django-insecure-local-development-only"
)
ALLOWED_HOSTS = ["*"]
# Static files straight from the apps' folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
