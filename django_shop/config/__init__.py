"""Django project configuration. Importing it loads the Celery app, so that
`@shared_task` binds to it and `.delay()` works in the web process too."""

from config.celery_app import app as celery_app

__all__ = ("celery_app",)
