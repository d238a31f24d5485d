"""Celery for the Flask application factory, as Flask's own docs describe it.

Every task runs inside `app.app_context()`, so a task uses `db.session` and
`current_app.config` exactly like a view does. `make_celery.py` gives the
worker the app this builds; tasks are `@shared_task` and never import it.

The configuration is layered as in every app (`shared.celery_app`): the vetted
defaults, made from the blog's settings, then Flask's `app.config["CELERY"]`.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

from blog.settings import BlogSettings
from shared.celery_app import create_celery_app


def celery_init_app(app: Flask, settings: BlogSettings) -> Celery:
    class FlaskTask(Task[Any, Any]):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = create_celery_app(
        app.name, default_queue="blog", task_cls=FlaskTask, settings=settings
    )
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
