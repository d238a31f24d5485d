"""The blog's `make doctor` checks: shared's Celery checks, and the app context of its tasks.

Run by `flask_blog/bin/doctor` (`python -m shared.doctor flask-blog blog.doctor`)
with the environment of the blog's services. It builds the app the way the
worker does (make_celery.py: `create_app()`, then its Celery app).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import Flask, current_app, has_app_context

from blog import create_app
from shared.doctor import CheckFailedError, Doctor, celery_checks

#: The names the blog sends its tasks by; beat's schedule is added from the config.
TASKS = {
    "blog.tasks.ping",
    "blog.tasks.generate_user_archive",
    "blog.tasks.delete_expired_exports",
    "blog.tasks.send_email",
    "shared.diagnose_failure",
}
#: The stack's service of the worker, and what it runs (APP/bin/worker).
WORKER = ("blog-worker", "celery -A make_celery worker -Q blog")


def expected_tasks(celery_app: Celery) -> set[str]:
    schedule = celery_app.conf.beat_schedule or {}
    return TASKS | {entry["task"] for entry in schedule.values()}


def check_tasks_run_in_app_context(flask_app: Flask, celery_app: Celery) -> str:
    """Does a task called where no app context is (a worker) run inside the blog's?

    A task of the app (so of its base class, `FlaskTask`, blog/celery_app.py) is
    called here, in a thread with no context; and every registered task must have that
    base, or `db.session` and `current_app` fail in it with "Working outside of
    application context".
    """

    def where() -> Any:
        return current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]

    # Registered in this process only (shared=False: no other app gets it); no worker runs it.
    probe = celery_app.task(name="doctor.app_context", shared=False)(where)
    if has_app_context():
        raise CheckFailedError("an app context is already pushed: nothing would be proven")
    if (found := probe()) is not flask_app:
        raise CheckFailedError(f"a task of the app's base class ran in the context of {found!r}")
    other = sorted(
        name
        for name, task in celery_app.tasks.items()
        if not name.startswith("celery.") and not isinstance(task, celery_app.Task)
    )
    if other:
        raise CheckFailedError(f"not of the app's task class (no app context): {', '.join(other)}")
    return f"a task runs in the context of {flask_app.name!r}; every task has that base"


def checks(doctor: Doctor) -> None:
    flask_app = create_app()
    celery_app: Celery = flask_app.extensions["celery"]
    celery_checks(
        doctor,
        celery_app,
        expected_tasks=lambda: expected_tasks(celery_app),
        worker_service=WORKER[0],
        worker_command=WORKER[1],
    )
    doctor.check(
        "app context",
        lambda: check_tasks_run_in_app_context(flask_app, celery_app),
        fix="build the Celery app with task_cls=FlaskTask, whose __call__ runs the task in "
        "`with app.app_context()` (blog/celery_app.py)",
    )
