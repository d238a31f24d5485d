"""The shop's Celery app: `celery -A config.celery_app worker -Q shop`.

The vetted defaults come from `shared.celery_app.make_celery`; Django's
CELERY_* settings are layered on top of them, and `autodiscover_tasks` finds
`tasks.py` in every installed app.
"""

import os

from config.env import SETTINGS
from shared.celery_app import make_celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = make_celery("shop", default_queue="shop", settings=SETTINGS)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
