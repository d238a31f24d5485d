"""supervisord keeps the native stack up: a killed service comes back by itself while the
others keep serving, Redis keeps its queues through a kill, and a killed worker leaves
no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import stack
from celery import Celery
from conftest import (
    RECOVERY_SECONDS,
    healthy,
    recoveries,
    restarted,
    restore,
    wait_for,
    watching_web_apps,
)
from stack import StackSettings


def stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, parent pid..."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def children(pid: int, var: Path) -> list[int]:
    """The live processes of the stack whose parent is `pid`."""
    return [
        child for child in stack.stack_processes(var) if stack.alive(child) and child_of(child, pid)
    ]


def child_of(pid: int, parent: int) -> bool:
    try:
        return int(stat(pid)[1]) == parent
    except OSError:
        return False


def orphans(var: Path) -> list[int]:
    """The live processes of the stack that are neither supervisord nor descend from it."""
    supervisord = stack.supervisord_pid(var)
    lost = []
    for pid in stack.stack_processes(var):
        ancestor = pid
        try:
            while ancestor not in {supervisord, 0, 1}:
                ancestor = int(stat(ancestor)[1])
        except OSError:
            continue  # exited while we looked
        if ancestor != supervisord and stack.alive(pid):
            lost.append(pid)
    return lost


def argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


@pytest.fixture
def supervised_redis(config: StackSettings, var: Path) -> None:
    if "redis" not in stack.supervised(config, stack.program_states(var)):
        pytest.skip("the stack uses a Redis that supervisord does not run")


@pytest.mark.parametrize("service", ["shop-worker", "redis", "mail"])
def test_a_killed_service_comes_back_by_itself_while_the_others_keep_serving(
    service: str, config: StackSettings, var: Path
) -> None:
    if service == "redis" and "redis" not in stack.supervised(config, stack.program_states(var)):
        pytest.skip("the stack uses a Redis that supervisord does not run")
    others = {name: stack.service_pid(name, var) for name in stack.native_services()}
    old_pid = others.pop(service)
    assert old_pid is not None, f"{service} is not running"

    with watching_web_apps(config) as answers:
        os.kill(old_pid, signal.SIGKILL)
        seconds = wait_for(
            f"{service} back", restarted(service, old_pid, config, var), timeout=RECOVERY_SECONDS
        )
        time.sleep(1)  # and a few more answers from the web apps once it is back
    recoveries.append((service, seconds))

    # No other service was stopped or restarted because this one died.
    assert {name: stack.service_pid(name, var) for name in others} == others
    for url, statuses in answers.items():
        assert statuses, f"{url} was never asked"
        assert None not in statuses, f"{url} stopped answering: {statuses}"
        # Without its broker a web app's /health says so (503); with it, all is well.
        assert statuses[-1] == 200, f"{url}: {statuses}"
        if service != "redis":
            assert set(statuses) == {200}, f"{url}: {statuses}"


@pytest.fixture
def unconsumed_queue(config: StackSettings, var: Path) -> Iterator[str]:
    """The name of a queue no worker consumes; its keys are deleted after the test (once
    Redis runs again, should the test have left it stopped).
    """
    name = f"faults-{uuid.uuid4().hex[:12]}"
    yield name
    restore(config, var)
    with redis.Redis.from_url(config.celery_broker_url, socket_timeout=5) as client:
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")


@pytest.mark.usefixtures("supervised_redis")
def test_redis_keeps_queued_messages_through_a_kill(
    config: StackSettings, var: Path, unconsumed_queue: str
) -> None:
    app = Celery("faults", broker=config.celery_broker_url)
    for number in range(3):
        app.send_task("faults.never_run", args=[number], queue=unconsumed_queue)
    app.close()
    old_pid = stack.service_pid("redis", var)
    assert old_pid is not None

    os.kill(old_pid, signal.SIGKILL)
    wait_for("redis back", restarted("redis", old_pid, config, var), timeout=RECOVERY_SECONDS)

    with redis.Redis.from_url(config.celery_broker_url, socket_timeout=5) as client:
        queued = [json.loads(raw) for raw in client.lrange(unconsumed_queue, 0, -1)]
    assert sorted(message["headers"]["argsrepr"] for message in queued) == ["[0]", "[1]", "[2]"]
    assert {message["headers"]["task"] for message in queued} == {"faults.never_run"}


def beats_by_app(var: Path) -> Counter[str]:
    """How many processes of the stack run a Celery beat, by app folder (their cwd).

    A beat embedded in a worker (-B, --beat) counts too, once per process that
    carries the option, so one would break the count of one per app.
    """
    found: Counter[str] = Counter()
    for pid in stack.stack_processes(var):
        try:
            args, app = argv(pid), Path(f"/proc/{pid}/cwd").resolve().name
        except OSError:
            continue  # exited while we looked
        if "celery" in " ".join(args) and {"beat", "-B", "--beat"} & set(args):
            found[app] += 1
    return found


def test_a_killed_worker_leaves_no_pool_child_and_one_beat_per_app(
    config: StackSettings, var: Path
) -> None:
    main = stack.service_pid("shop-worker", var)
    assert main is not None
    pool = children(main, var)
    assert len(pool) >= 1, "the shop worker has no pool processes to check"

    os.kill(main, signal.SIGKILL)
    back = restarted("shop-worker", main, config, var)
    wait_for("shop-worker back", back, timeout=RECOVERY_SECONDS)

    wait_for("the old pool gone", lambda: not any(stack.alive(pid) for pid in pool), timeout=10)
    assert orphans(var) == []
    assert beats_by_app(var) == {"django_shop": 1, "flask_blog": 1}
    assert healthy("shop-beat", config, var)
    assert healthy("blog-beat", config, var)
