"""The blog's doctor check: a task called outside any context runs inside the blog's."""

from __future__ import annotations

import pytest
from celery import Celery, Task
from flask import Flask

from blog import doctor
from shared.celery_app import create_celery_app
from shared.doctor import CheckFailedError


def test_the_blogs_tasks_run_in_its_app_context(app: Flask) -> None:
    celery_app: Celery = app.extensions["celery"]

    detail = doctor.check_tasks_run_in_app_context(app, celery_app)

    assert detail == "a task runs in the context of 'blog'; every task has that base"


def test_a_celery_app_without_the_flask_task_class_fails(app: Flask) -> None:
    plain = create_celery_app("plain", default_queue="blog")

    with pytest.raises(CheckFailedError, match="ran in the context of None"):
        doctor.check_tasks_run_in_app_context(app, plain)


def test_a_task_of_another_base_class_is_named(app: Flask) -> None:
    celery_app: Celery = app.extensions["celery"]

    @celery_app.task(name="blog.tests.plain", base=Task)
    def plain() -> None: ...

    with pytest.raises(CheckFailedError, match=r"not of the app's task class.*blog\.tests\.plain"):
        doctor.check_tasks_run_in_app_context(app, celery_app)


def test_the_check_refuses_to_run_inside_a_context(app: Flask) -> None:
    with app.app_context(), pytest.raises(CheckFailedError, match="nothing would be proven"):
        doctor.check_tasks_run_in_app_context(app, app.extensions["celery"])


def test_beats_schedule_is_among_the_expected_tasks(app: Flask) -> None:
    expected = doctor.expected_tasks(app.extensions["celery"])

    assert "blog.tasks.delete_expired_exports" in expected
    assert expected >= doctor.TASKS
