"""The vetted Celery configuration and the factory every app builds its Celery app with.

Each app calls `create_celery_app(name, default_queue=..., settings=...)` once, in
its own `celery_app.py`. Its configuration is layered the same way in every app,
each layer over the one before:

1. the vetted defaults (`celery_config`),
2. made from the app's typed settings object, the `SharedSettings` subclass the app
   passes as `settings=` (the environment: broker, time limits, ...);
3. the framework's own configuration, where the framework has one, loaded with
   `config_from_object`: Django's `CELERY_*` settings
   (`config_from_object("django.conf:settings", namespace="CELERY")`), Flask's
   `config_from_object(app.config["CELERY"])`. FastAPI has none: there the
   settings object is the last layer.

Each value is set in one layer: what comes from the environment goes through the
settings object, what belongs to the framework's integration (Django's
database result backend and scheduler, the blog's beat schedule) to its config.
The vetted values are installed as Celery *defaults*, so a key of layer 3 wins
over them, key by key.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.signals import worker_init

from shared.request_id import connect_celery_signals
from shared.settings import SharedSettings

#: Options for tasks that are safe to run twice (idempotent): the message is
#: acknowledged only after the task finishes, and redelivered if the worker
#: process dies mid-task. Use as `@shared_task(**IDEMPOTENT)`.
IDEMPOTENT: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}

#: The longest delay any task may wait before a retry (`retry_backoff_max`,
#: `countdown`). A worker holds a delayed message unacknowledged until it runs,
#: so the visibility timeout below must outlast this delay plus the run itself.
MAX_RETRY_DELAY = 120

#: Time for a live worker to notice and take back a message whose worker died.
REDELIVERY_MARGIN = 60


#: Every connection to Redis (broker and result backend) gives up instead of
#: waiting forever. A Redis that is down refuses at once; one that accepts and
#: never answers (paused, failing over, a host gone without a reset) would
#: otherwise block a web request, and the customer with it, for good. Redis
#: answers in milliseconds, and the worker's own blocking read (BRPOP) waits
#: 1 s, so these leave a wide margin. Keepalive notices a dead peer while idle.
REDIS_SOCKET_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 2,
    "socket_timeout": 3,
    "socket_keepalive": True,
}


PUBLISH_RETRY_POLICY: dict[str, Any] = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}


def visibility_timeout(settings: SharedSettings) -> int:
    """Seconds after which Redis hands an unacknowledged message to another worker.

    It is how long a task whose worker was killed (SIGKILL, OOM, a lost
    machine) waits before it runs again, so it is kept as short as is safe:
    the longest retry delay, plus the hard time limit of the run, plus a margin.
    Any shorter, and a task still waiting for its retry, or still running,
    would be handed to a second worker and run twice. (A task whose pool
    process dies while the worker lives is requeued at once: reject_on_worker_lost.)
    """
    return MAX_RETRY_DELAY + settings.celery_task_time_limit + REDELIVERY_MARGIN


def celery_config(settings: SharedSettings, *, default_queue: str) -> dict[str, Any]:
    """The configuration every app starts from, as new-style lowercase Celery settings."""
    return {
        "broker_url": settings.celery_broker_url,
        "result_backend": settings.celery_result_backend_url,
        # JSON only: nothing that can execute code ever crosses the broker.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # Every app has its own queue; its worker consumes only that one.
        "task_default_queue": default_queue,
        "task_default_exchange": default_queue,
        "task_default_routing_key": default_queue,
        # Task events, so that Flower sees tasks as workers receive, start and end
        # them; and, with CELERY_TASK_SEND_SENT_EVENT=true, as they are sent.
        "worker_send_task_events": True,
        "task_send_sent_event": settings.celery_task_send_sent_event,
        "task_track_started": True,
        # No task runs forever: the soft limit raises inside the task so it can
        # clean up, the hard limit kills the process.
        "task_soft_time_limit": settings.celery_task_soft_time_limit,
        "task_time_limit": settings.celery_task_time_limit,
        # Results are opt-in per task (`ignore_result=False`) and expire.
        "task_ignore_result": True,
        "result_expires": settings.celery_result_expires,
        "result_extended": True,
        # A worker started before Redis keeps trying instead of exiting.
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # Redis redelivers an unacknowledged message after this many seconds.
            "visibility_timeout": visibility_timeout(settings),
            # Live workers look for such messages every 10 s (kombu's default
            # throttle would make it every 100 s).
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
            **REDIS_SOCKET_OPTIONS,
        },
        # The same bounds on the result backend's connections.
        "redis_socket_connect_timeout": REDIS_SOCKET_OPTIONS["socket_connect_timeout"],
        "redis_socket_timeout": REDIS_SOCKET_OPTIONS["socket_timeout"],
        "redis_socket_keepalive": True,
        "broker_connection_timeout": REDIS_SOCKET_OPTIONS["socket_connect_timeout"],
        # A publish from a web request tries twice (the second time on a fresh
        # connection, which is what a restarted Redis needs), then raises
        # kombu's OperationalError: about 2 x socket_timeout at worst. A task
        # that keeps its result also subscribes to it when published: that
        # reconnects by the same policy (Celery's default is 20 tries).
        "task_publish_retry_policy": PUBLISH_RETRY_POLICY,
        "result_backend_transport_options": {"retry_policy": PUBLISH_RETRY_POLICY},
        # One message at a time per process: long tasks don't hoard the queue.
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        # When the worker loses the broker, kill its running acks_late tasks:
        # their messages are redelivered, and without this a second worker could
        # run them while the first still does. Right for tasks whose every state
        # change is conditional on the run that owns it (the blog's export, the
        # reports): the rerun starts afresh, the killed run changes nothing. An
        # app whose task has a side effect that a kill could repeat overrides it
        # (the shop: an email the server accepted would be sent twice).
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "timezone": "UTC",
        "enable_utc": True,
        # Tasks every app uses (the diagnostic `make check-integration` sends) register
        # in every worker.
        "imports": ["shared.tasks"],
    }


def create_celery_app(
    main: str,
    *,
    default_queue: str,
    task_cls: type[Task[Any, Any]] | str | None = None,
    settings: SharedSettings | None = None,
) -> Celery:
    """Build a Celery app named `main` whose tasks go to `default_queue`.

    `task_cls` is the base class of every task of the app (Flask passes one that
    pushes the app context). `settings` defaults to a fresh `SharedSettings()`
    read from the environment; an app with its own settings object passes it, so
    the web app and the worker read one configuration.
    """
    settings = settings if settings is not None else SharedSettings()
    app = Celery(main, task_cls=task_cls or "celery.app.task:Task")
    config = celery_config(settings, default_queue=default_queue)
    app.add_defaults(lambda: _not_configured_by_source(app, config))
    connect_celery_signals(settings.log_level)
    worker_init.connect(_refuse_retries_that_outlive_redelivery, weak=False)
    return app


class RedeliveryConfigError(RuntimeError):
    """A task may wait longer for its retry than the broker waits before redelivering it."""


def check_retry_delays(app: Celery) -> None:
    """Refuse a task whose retry can wait so long that Redis redelivers it meanwhile.

    A worker holds a delayed retry unacknowledged until it runs; if that takes
    longer than the visibility timeout, a second worker runs it too. The
    longest wait is the retry delay plus the run itself (the hard time limit).
    """
    visibility = app.conf.broker_transport_options.get("visibility_timeout", 3600)
    hard_limit = app.conf.task_time_limit or 0
    for name, task in app.tasks.items():
        if not getattr(task, "autoretry_for", ()):
            continue  # no automatic retry (a task's own self.retry(countdown=...) is its own)
        # Set by @task(retry_backoff=...); a task without it waits default_retry_delay.
        backoff = getattr(task, "retry_backoff", False)
        delay = getattr(task, "retry_backoff_max", 600) if backoff else task.default_retry_delay
        if (delay or 0) + hard_limit >= visibility:
            raise RedeliveryConfigError(
                f"{name} may retry after {delay} s and run for {hard_limit} s, but Redis "
                f"redelivers an unacknowledged message after {visibility} s: it would run "
                "twice. Lower its retry delay, or the time limit."
            )


def _refuse_retries_that_outlive_redelivery(sender: Any, **kwargs: Any) -> None:
    """A worker refuses to start with a configuration that runs retries twice.

    Celery logs whatever Exception a signal receiver raises and goes on, so the
    refusal is a SystemExit: the worker stops before it consumes anything.
    """
    try:
        check_retry_delays(sender.app)
    except RedeliveryConfigError as error:
        raise SystemExit(f"refusing to start the worker: {error}") from error


def _not_configured_by_source(app: Celery, config: dict[str, Any]) -> dict[str, Any]:
    """The vetted values that the app's own config source does not set.

    Celery ranks `add_defaults` above a `config_from_object` source, so without
    this filter the vetted values would hide, say, Django's CELERY_RESULT_BACKEND.
    Celery calls this lazily, once the source (if any) is loaded.
    """
    source = app.loader.conf or {}
    namespace = getattr(app, "namespace", None)  # set by config_from_object(namespace=...)
    prefix = f"{namespace}_" if namespace else ""
    return {
        key: value
        for key, value in config.items()
        if f"{prefix}{key.upper()}" not in source and key not in source
    }
