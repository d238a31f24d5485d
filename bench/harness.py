"""What the benchmark modules share: the running native stack, the processes a benchmark
starts (and always stops), free ports, and waiting with a deadline.

The stack is found as scripts/stack.py finds it (its settings: the environment, then
.env; its supervisord on var/run/supervisor.sock). Every process a benchmark starts
runs with the stack's own environment, so it talks to the stack's Redis, databases
and directories, but without the stack's NATIVE_STACK marker: `make down` stops the
stack, and each benchmark stops what it started itself.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.exceptions import RedisError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import stack as stack  # noqa: E402 (scripts/ is not a package; the benchmarks import it here)

#: Each app's folder: where its bin/ scripts run, so `celery -A` finds its modules.
APP_DIRS = {
    "shop": ROOT / "django_shop",
    "blog": ROOT / "flask_blog",
    "reports": ROOT / "fastapi_reports",
}
#: How long a process the bench stops may take to finish (a worker's warm shutdown).
STOP_SECONDS = 20.0


class BenchError(RuntimeError):
    """A benchmark could not measure what it measures; the message says why."""


class NoStackError(BenchError):
    """No native stack runs that the benchmarks can use."""


NO_STACK = """no native stack runs here: scripts/stack.py finds no supervisord on {socket}.
Start one with `make up` (in the network namespace you run `make bench` in, if any:
`ip netns exec NAME make up`), wait until it prints its URLs, then run `make bench` again.
The benchmarks need the native stack: the compose stack's Redis and databases are not
published to the host."""


@dataclass(frozen=True)
class Stack:
    """The running native stack: its settings and its runtime folder."""

    config: stack.StackSettings
    var: Path

    @property
    def log_dir(self) -> Path:
        """Where the processes a benchmark starts write their logs."""
        return self.var / "log" / "bench"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of the stack's services (.env, then this environment, then the
        stack's addresses), without the stack's marker, with `bench` importable, plus `extra`.
        """
        env = stack.native_env(self.config, self.var, run_redis=False)
        env.pop(stack.MARKER, None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return {**env, **extra}

    def redis(self) -> redis.Redis:
        """A client of the stack's broker."""
        return redis.Redis.from_url(self.config.celery_broker_url, socket_timeout=5)


@functools.cache
def running_stack() -> Stack:
    """The native stack `make up` started, every service healthy; NoStackError otherwise.

    The stack's supervisord is found by its Unix socket, which every network namespace
    sees; its services listen on loopback, which each namespace has its own of. So a
    bench run outside the stack's namespace would find the supervisord but reach
    another stack's ports: the Redis that answers must be the one supervisord runs.
    """
    config = stack.settings()
    var = config.var_dir
    if not stack.native_running(var):
        raise NoStackError(NO_STACK.format(socket=var / "run" / "supervisor.sock"))
    found = Stack(config, var)
    services = stack.supervised(config, stack.program_states(var))
    # First, before any probe could reach another stack's services.
    if "redis" in services:
        try:
            answering: int | None = int(found.redis().info("server")["process_id"])
        except RedisError:
            answering = None
        own = stack.service_pid("redis", var)
        if answering != own:
            found_here = "no Redis answers" if answering is None else f"Redis pid {answering}"
            raise NoStackError(
                f"the stack's supervisord runs its Redis as pid {own}, but on "
                f"{config.celery_broker_url} {found_here}: run `make bench` in the network "
                "namespace the stack runs in"
            )
    probes = stack.checks(config, var)
    if unhealthy := [name for name in services if not probes[name]()]:
        raise NoStackError(
            f"the native stack runs, but {', '.join(unhealthy)} did not answer: "
            "`make status` shows why; `make up` starts what is stopped"
        )
    return found


# --- processes ------------------------------------------------------------------


@contextmanager
def started(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` for the length of the block, its output appended to `log`.

    It runs in a process group of its own, so stopping it stops its children too
    (a worker's pool, gunicorn's workers): SIGTERM, then SIGKILL after STOP_SECONDS.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop `process` and its group; only processes this bench started are signalled."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        # Not reaped yet, so the group id is still this process's own.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) used so far by `pid` and its live descendants, from
    /proc: a gunicorn master with its workers, a Celery worker with its pool.
    """
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue  # /proc/self, /proc/cpuinfo...
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it just exited
        parents[int(entry.name)] = int(fields[1])
        spent[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    family, grew = {pid}, True
    while grew:
        children = {child for child, parent in parents.items() if parent in family}
        grew = not children <= family
        family |= children
    return sum(spent.get(member, 0.0) for member in family)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, predicate: Callable[[], object], *, timeout: float) -> float:
    """Poll `predicate` until it is true; the seconds it took, or BenchError at `timeout`."""
    started_at = time.monotonic()
    while not predicate():
        if time.monotonic() - started_at > timeout:
            raise BenchError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started_at


def http_ok(url: str) -> bool:
    return stack.http_ok(url)


def tail(log: Path, lines: int = 15) -> str:
    """The end of `log`, to show with an error."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:]) or "    (empty)"
