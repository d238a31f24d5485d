"""The shop's Celery app: `celery -A config.celery_app worker -Q shop`.

The configuration is layered as in every app (`shared.celery_app`): the vetted
defaults, made from the shop's settings object (`config.env.SETTINGS`), then
Django's CELERY_* settings over them. `autodiscover_tasks` finds `tasks.py` in
every installed app.
"""

import os
from typing import Any

import django

from config.env import SETTINGS
from shared.celery_app import create_celery_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = create_celery_app("shop", default_queue="shop", settings=SETTINGS)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def setup_django(**kwargs: Any) -> None:
    """Load Django's apps before the django-db result backend is imported.

    The worker and beat do it themselves (Celery's Django fixup); the other
    commands (`celery -A config.celery_app call|inspect|purge`) would fail with
    AppRegistryNotReady. In a web process Django is already set up: a no-op.
    """
    django.setup()
