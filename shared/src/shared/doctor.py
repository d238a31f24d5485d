"""`make doctor`: the mistakes that make a Celery setup fail quietly, each checked and named.

A task that stays PENDING forever, a worker that drops messages as
"unregistered", a broker URL that silently fell back to amqp://guest@localhost:
none of them raises where it is caused. Each check here asks one question,
answers it within a deadline (a silent broker must not hang the doctor), and,
when it fails, says what to do in one line.

Each app runs its checks in its own process and environment, as its web
process and worker do: `APP/bin/doctor` runs `python -m shared.doctor DIST
MODULE`, which first checks that DIST's requirements are installed (before
anything imports them), then imports MODULE and prints what its `checks()`
returns. scripts/doctor.py runs the three, natively or in the compose stack.

This module imports Celery and kombu only inside its checks, so the package check can
report a missing Celery instead of dying of it.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

from packaging.requirements import Requirement

if TYPE_CHECKING:
    from celery import Celery
    from celery.app.control import Inspect

#: Seconds a worker has to answer a broadcast (ping, active_queues, conf). They
#: answer in milliseconds; a loaded machine may take a few hundred.
INSPECT_TIMEOUT = 3.0
#: Seconds any one check may take, whatever it waits on, before it fails.
CHECK_DEADLINE = 15.0
#: Seconds Redis has to accept a connection and answer PING.
BROKER_TIMEOUT = 3.0

Status = Literal["pass", "fail", "skip"]


class CheckFailedError(Exception):
    """Raised by a probe: its message is the check's detail."""


@dataclass(frozen=True)
class Result:
    """One check's answer: `detail` says what was found, `fix` what to do when it failed."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "pass"


@dataclass
class Doctor:
    """Runs checks in order; a check that needs one that failed is skipped, not run.

    A broker that does not answer would otherwise fail every later check with
    the same timeout, and hide the one cause among them.
    """

    deadline: float = CHECK_DEADLINE
    results: list[Result] = field(default_factory=list)

    def check(
        self, name: str, probe: Callable[[], str], *, fix: str, needs: Iterable[str] = ()
    ) -> Result:
        failed = [r.name for r in self.results if r.name in set(needs) and not r.ok]
        if failed:
            result = Result(name, "skip", f"not checked: {', '.join(failed)} failed")
        else:
            result = run_probe(name, probe, fix=fix, deadline=self.deadline)
        self.results.append(result)
        return result


def run_probe(name: str, probe: Callable[[], str], *, fix: str, deadline: float) -> Result:
    """Run `probe` in a thread and wait `deadline` seconds at most.

    Whatever it returns is the detail of a pass, whatever it raises the detail
    of a failure. A probe still waiting at the deadline fails: its daemon thread
    is left behind and dies with the process.
    """
    outcome: list[Result] = []

    def target() -> None:
        try:
            outcome.append(Result(name, "pass", probe()))
        except Exception as exc:  # every failure is reported, none escapes
            message = str(exc) if isinstance(exc, CheckFailedError) else _describe(exc)
            outcome.append(Result(name, "fail", message, fix))

    thread = threading.Thread(target=target, name=f"doctor-{name}", daemon=True)
    thread.start()
    thread.join(deadline)
    if not outcome:
        return Result(name, "fail", f"no answer within {deadline:.0f} s", fix)
    return outcome[0]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# --- packages ---------------------------------------------------------------------


def missing_requirements(distribution: str) -> list[str]:
    """The requirements of `distribution`, and of theirs, that are not installed as asked.

    Read from the installed metadata (the app's pyproject.toml dependencies),
    extras included (celery[redis] needs the redis client): so the list is the
    app's own, never a second copy to keep in step.
    """
    missing: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    pending: list[tuple[str, frozenset[str]]] = [(distribution, frozenset())]
    while pending:
        name, extras = pending.pop()
        if (name.lower(), extras) in seen:
            continue
        seen.add((name.lower(), extras))
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # reported by whoever required it
        for line in requires:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate(env) for env in environments):
                continue
            extras_asked = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            wanted = f"{requirement.name}{extras_asked}{requirement.specifier}"
            try:
                installed = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                missing.append(f"{wanted} (not installed)")
                continue
            if not requirement.specifier.contains(installed, prereleases=True):
                missing.append(f"{wanted} ({installed} installed)")
            pending.append((requirement.name, frozenset(requirement.extras)))
    return sorted(set(missing))


def check_packages(doctor: Doctor, distribution: str) -> Result:
    def probe() -> str:
        try:
            metadata.version(distribution)
        except metadata.PackageNotFoundError:
            raise CheckFailedError(f"{distribution} itself is not installed") from None
        if missing := missing_requirements(distribution):
            raise CheckFailedError("missing or wrong: " + "; ".join(missing))
        return f"every requirement of {distribution} is installed"

    fix = "install the locked dependencies: `make deps` natively, or rebuild the image (`make up`)"
    return doctor.check("packages", probe, fix=fix)


# --- the generic Celery checks ---------------------------------------------------------


def routed_queues(app: Celery) -> set[str]:
    """Every queue the app's tasks are sent to: the default one, and any `task_routes` names.

    Routes given as a mapping (or a list of mappings) are read; a router
    function's queues cannot be known without calling it for every task.
    """
    queues = {str(app.conf.task_default_queue)}
    routes = app.conf.task_routes or ()
    for table in [routes] if isinstance(routes, dict) else routes:
        for route in table.values() if isinstance(table, dict) else ():
            if isinstance(route, dict) and route.get("queue"):
                queues.add(str(route["queue"]))
    return queues


def _masked(url: str) -> str:
    """`url` with its password, if any, masked."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def check_broker_configured(app: Celery) -> str:
    """Is the broker named by CELERY_BROKER_URL, and Redis?

    Celery gives that variable precedence over any configuration; without it the
    app runs on a built-in default (Celery's amqp://guest@localhost//, or
    shared's local Redis), right on a laptop and wrong everywhere else.
    """
    configured = app.conf.broker_url
    if not configured:
        raise CheckFailedError(
            "no broker URL configured: Celery falls back to amqp://guest@localhost//"
        )
    uri = _masked(configured)  # the password masked
    from_env = os.environ.get("CELERY_BROKER_URL")
    if not from_env:
        raise CheckFailedError(f"CELERY_BROKER_URL is not set: {uri} is a built-in default")
    if not configured.startswith(("redis://", "rediss://", "unix://")):
        raise CheckFailedError(f"{uri} is not a Redis URL")
    return uri


def check_broker_answers(app: Celery, *, timeout: float = BROKER_TIMEOUT) -> str:
    """Does Redis accept a connection and answer PING within `timeout` seconds?

    Its own client, with its own timeouts: what is checked is the broker, not
    the retry policy of the app's connection pool.
    """
    import redis

    client = redis.Redis.from_url(
        app.conf.broker_url, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    uri = _masked(app.conf.broker_url)
    try:
        client.ping()
    except redis.exceptions.TimeoutError:
        raise CheckFailedError(f"{uri} accepts connections but does not answer") from None
    except redis.exceptions.RedisError as exc:
        raise CheckFailedError(f"{uri} does not answer: {exc}") from None
    finally:
        client.close()
    return f"{uri} answers PING"


def check_tasks_registered(
    app: Celery, expected: Collection[str] | Callable[[], Collection[str]]
) -> str:
    """Are the app's tasks known under the names it sends them by (`expected`, or what it returns:
    beat's schedule may be in a database)?

    The worker imports the same modules first (`imports`, autodiscovery): a task
    missing here is one the worker rejects as "unregistered".
    """
    app.loader.import_default_modules()
    expected = expected() if callable(expected) else expected
    if missing := sorted(set(expected) - set(app.tasks)):
        raise CheckFailedError(f"not registered: {', '.join(missing)}")
    return f"{len(expected)} tasks registered"


@contextmanager
def inspector(
    app: Celery, *, timeout: float = INSPECT_TIMEOUT, destination: list[str] | None = None
) -> Iterator[Inspect]:
    """`inspect()` on the app's broker, in JSON whatever the app's own serializer.

    Celery sends control messages in the app's task_serializer: an app whose
    workers refuse it would get no answer at all, and the doctor would blame
    the workers, not the serializer.
    """
    from celery import Celery

    probe = Celery("doctor", broker=app.conf.broker_url, set_as_current=False)
    probe.conf.update(
        broker_transport_options=app.conf.broker_transport_options,
        broker_connection_timeout=app.conf.broker_connection_timeout,
        control_exchange=app.conf.control_exchange,
    )
    try:
        yield probe.control.inspect(timeout=timeout, destination=destination)
    finally:
        probe.close()


def consumers(app: Celery, *, timeout: float = INSPECT_TIMEOUT) -> dict[str, set[str]]:
    """Each live worker's node name, with the queues it consumes (its answer to active_queues)."""
    with inspector(app, timeout=timeout) as inspect:
        replies = inspect.active_queues() or {}
    return {node: {queue["name"] for queue in queues or []} for node, queues in replies.items()}


def check_queues_consumed(app: Celery, *, timeout: float = INSPECT_TIMEOUT) -> str:
    """Does a live worker consume every queue the app routes tasks to?

    Without one, a task waits in Redis and stays PENDING forever: nothing fails.
    """
    workers = consumers(app, timeout=timeout)
    wanted = routed_queues(app)
    unconsumed = sorted(q for q in wanted if not any(q in queues for queues in workers.values()))
    if unconsumed:
        seen = "; ".join(
            f"{node} consumes {', '.join(sorted(q)) or 'nothing'}" for node, q in workers.items()
        )
        raise CheckFailedError(
            f"no worker consumes {', '.join(map(repr, unconsumed))} "
            f"(workers that answered: {seen or 'none'})"
        )
    nodes = sorted(node for node, queues in workers.items() if queues & wanted)
    return f"{', '.join(sorted(wanted))} consumed by {', '.join(nodes)}"


def _app_workers(app: Celery, timeout: float) -> list[str]:
    """The node names of the live workers that consume one of the app's queues."""
    wanted = routed_queues(app)
    return sorted(
        node for node, queues in consumers(app, timeout=timeout).items() if queues & wanted
    )


def check_workers_know_tasks(
    app: Celery,
    expected: Collection[str] | Callable[[], Collection[str]],
    *,
    timeout: float = INSPECT_TIMEOUT,
) -> str:
    """Does every worker of the app's queues know each of its tasks (`inspect().registered()`)?

    A worker started from older code, or one that imports other modules, takes
    the message and drops it: "Received unregistered task".
    """
    # Celery's built-in tasks (celery.backend_cleanup, beat schedules it) are in every
    # worker, and left out of its answer.
    expected = [
        name
        for name in (expected() if callable(expected) else expected)
        if not name.startswith("celery.")
    ]
    nodes = _app_workers(app, timeout)
    if not nodes:
        raise CheckFailedError("no worker of the app's queues answered")
    with inspector(app, timeout=timeout, destination=nodes) as inspect:
        replies = inspect.registered() or {}
    problems = []
    for node in nodes:
        if node not in replies:
            problems.append(f"{node} did not say")
        elif missing := sorted(set(expected) - {name.split(" ")[0] for name in replies[node]}):
            problems.append(f"{node} does not know {', '.join(missing)}")
    if problems:
        raise CheckFailedError("; ".join(problems))
    return f"{', '.join(nodes)} know all {len(expected)}"


def _content_types(names: Iterable[str]) -> set[str]:
    from kombu.serialization import prepare_accept_content

    return set(prepare_accept_content(list(names)) or ())


def check_serializers(app: Celery, *, timeout: float = INSPECT_TIMEOUT) -> str:
    """Does every worker of the app's queues accept what the app sends, and the app what they
    answer?

    A message in a serializer its worker does not accept is refused ("Refusing to
    deserialize") and never runs; a result the app cannot read raises at `.get()`.
    The workers' settings are their own answers to `inspect().conf()`.
    """
    nodes = _app_workers(app, timeout)
    if not nodes:
        raise CheckFailedError("no worker of the app's queues answered")
    with inspector(app, timeout=timeout, destination=nodes) as inspect:
        confs = inspect.conf(with_defaults=True) or {}
    sent = app.conf.task_serializer
    readable = _content_types(app.conf.result_accept_content or app.conf.accept_content)
    problems = []
    for node in nodes:
        conf = confs.get(node)
        if conf is None:
            problems.append(f"{node} did not send its configuration")
            continue
        if not _content_types([sent]) <= _content_types(conf["accept_content"]):
            problems.append(f"{node} accepts {conf['accept_content']}, not {sent!r}")
        if not _content_types([conf["result_serializer"]]) <= readable:
            problems.append(f"{node} answers in {conf['result_serializer']!r}, unreadable here")
    if problems:
        raise CheckFailedError("; ".join(problems))
    return f"{sent!r} sent, accepted by {', '.join(nodes)}"


def check_result_backend(app: Celery) -> str:
    """Can the app store a result and read it back? Where it reads results (`.get()`, health
    checks, a chord's header) a backend that does not answer blocks or fails them.
    """
    backend = app.backend
    task_id = f"doctor-{uuid.uuid4()}"
    with warnings.catch_warnings():
        # Celery's Redis backend stores with redis-py's SETEX, which redis-py deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        backend.store_result(task_id, "doctor", "SUCCESS")
    try:
        meta = backend.get_task_meta(task_id)
    finally:
        backend.forget(task_id)
    if meta.get("status") != "SUCCESS" or meta.get("result") != "doctor":
        raise CheckFailedError(f"stored a result and read back {meta!r}")
    return f"{type(backend).__name__} stores and reads results"


def celery_checks(
    doctor: Doctor,
    app: Celery,
    *,
    expected_tasks: Collection[str] | Callable[[], Collection[str]],
    worker_service: str,
    worker_command: str,
) -> None:
    """The checks every app runs on its Celery app, in the order a cause shows first.

    `worker_service` is the stack's service of the app's worker (`make start
    SERVICE=...`), `worker_command` the command it runs, for the fixes.
    """
    queues = ", ".join(sorted(routed_queues(app)))
    worker_fix = (
        f"start a worker of {queues}: `make start SERVICE={worker_service}` ({worker_command})"
    )
    doctor.check(
        "broker configured",
        lambda: check_broker_configured(app),
        fix="set CELERY_BROKER_URL (redis://HOST:6379/0) in the environment or .env",
    )
    doctor.check(
        "broker answers",
        lambda: check_broker_answers(app),
        fix="start Redis (`make start SERVICE=redis`, or `make up`) and check CELERY_BROKER_URL",
        needs=["broker configured"],
    )
    doctor.check(
        "tasks registered",
        lambda: check_tasks_registered(app, expected_tasks),
        fix="import the task's module from the app (autodiscover_tasks, `imports`) or fix its name",
    )
    doctor.check(
        "queues consumed",
        lambda: check_queues_consumed(app),
        fix=worker_fix,
        needs=["broker answers"],
    )
    doctor.check(
        "workers know tasks",
        lambda: check_workers_know_tasks(app, expected_tasks),
        fix=f"restart the workers on the current code: `make restart SERVICE={worker_service}`",
        needs=["queues consumed", "tasks registered"],
    )
    doctor.check(
        "serializers agree",
        lambda: check_serializers(app),
        fix="give the app and its workers the same task_serializer and accept_content",
        needs=["queues consumed"],
    )
    doctor.check(
        "result backend",
        lambda: check_result_backend(app),
        fix="start the result backend's server and check CELERY_RESULT_BACKEND_URL",
        needs=["broker configured"],
    )


# --- running -----------------------------------------------------------------------------


def render(app_name: str, results: Iterable[Result]) -> str:
    """One line per check, and the fix under each that failed."""
    lines = []
    for result in results:
        lines.append(f"{app_name}: {result.status.upper():<4}  {result.name:<18}  {result.detail}")
        if result.status == "fail":
            lines.append(f"{app_name}:       {'':<18}  fix: {result.fix}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.doctor DISTRIBUTION MODULE`: the packages, then MODULE.checks()."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m shared.doctor DISTRIBUTION MODULE", file=sys.stderr)
        return 2
    distribution, module_name = args
    app_name = module_name.partition(".")[0]
    doctor = Doctor()
    if check_packages(doctor, distribution).ok and (module := _load(doctor, module_name)):
        module.checks(doctor)
    print(render(app_name, doctor.results), flush=True)
    return 0 if all(result.status != "fail" for result in doctor.results) else 1


def _load(doctor: Doctor, module_name: str) -> Any:
    """Import the app's doctor module, which imports the app: a setting that stops the app from
    loading (a missing secret key) is a failure to report, not a traceback.
    """
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        fix = (
            "set what the error names (.env.example lists every variable), as the app's services do"
        )
        doctor.results.append(Result("app loads", "fail", _describe(exc), fix))
        return None
    doctor.results.append(Result("app loads", "pass", f"imported {module_name}"))
    return module


if __name__ == "__main__":
    # Run as shared.doctor, not __main__: the apps' checks raise shared.doctor's
    # CheckFailedError, which a second copy of this module would not know.
    from shared import doctor

    sys.exit(doctor.main())
