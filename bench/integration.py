"""Integration overhead: a no-op task's round trip through each app's Celery wiring.

A round trip is `task.apply_async(queue=...).get()`: publish, a worker runs the task,
its result is read back. It is timed through the shop's, the blog's and the reports'
own Celery apps, against a bare `Celery(broker=..., backend=redis)` app, on the
stack's Redis, with a Redis PING as the floor.

How. The bench starts one worker per variant, each `celery -A APP worker` with the
app's own code and configuration, on a queue of its own (bench.shop, ...) so that
the stack's workers see none of it, each with one pool process and without the
periodic broadcasts (heartbeat, gossip, mingle), which would land on random rounds.
The apps' workers load `bench.tasks`, a no-op task bound to the app like its own
tasks (`@shared_task`: the blog's runs in its app context). Results: the blog and
the reports keep theirs in Redis, as the bare app does; the shop keeps its own in
its database (django-celery-results), and `AsyncResult.get` polls a database backend
every 0.5 s, which would time the poll, not the wiring. So the no-op task of every
app keeps its result in Redis (bench.tasks.use_redis_results) and all four round
trips end the same way; the shop's own `ping` through its database is reported
apart, for what it is. A fifth variant, the bare task in an app built by
`shared.celery_app.create_celery_app` with nothing else, separates what the shared
configuration costs (task events, the STARTED state, extended results, the request
id header) from what each framework's wiring adds; three more, the same app with task
events, the STARTED state or both turned off (bench.unmonitored), what each part of
that monitoring costs. The task events' share includes the running Flower's work:
it receives every event, on the same cores.

One client process per variant (`python -m bench.integration client VARIANT`) imports
its app once and times calls when asked, so that every variant is measured warm and
in the same kind of process. The rounds interleave the variants (bench.stats.rounds);
each app's ratio to the bare app is the median over rounds of the ratio of the two
medians measured in that round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import redis

from bench import stats
from bench.figures import Figure
from bench.harness import APP_DIRS, ROOT, BenchError, Stack, running_stack, started, tail
from shared.settings import SharedSettings

#: The Celery app of each worker the bench starts: `celery -A TARGET` run in DIR.
WORKERS: dict[str, tuple[str, Path]] = {
    "bare": ("bench.bare", ROOT),
    "vetted": ("bench.vetted", ROOT),
    "unmonitored": ("bench.unmonitored", ROOT),
    "without_events": ("bench.unmonitored:without_events", ROOT),
    "without_started": ("bench.unmonitored:without_started", ROOT),
    "shop": ("config.celery_app", APP_DIRS["shop"]),
    "blog": ("make_celery", APP_DIRS["blog"]),
    "reports": ("reports.celery_app", APP_DIRS["reports"]),
}
APPS = ("shop", "blog", "reports")
VARIANTS = ("redis", *WORKERS)
ROUNDS = 20
CALLS = 50  # per variant and round
WARMUP = 20  # calls each client makes before it says it is ready
DJANGO_DB_CALLS = 10  # the shop's own ping, through its database: ~0.5 s each
READY_SECONDS = 120.0


def queue(variant: str) -> str:
    return f"bench.{variant}"


def worker_command(variant: str) -> list[str]:
    target, _ = WORKERS[variant]
    # Not bench-shop@host: a page or test looking for "shop@host" would find it in that.
    command = ["celery", "-A", target, "worker", "-Q", queue(variant), "-n", f"{variant}.bench@%h"]
    command += ["--concurrency=1", "--loglevel=INFO"]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    return command + (["--include", "bench.tasks"] if variant in APPS else [])


# --- the client process ---------------------------------------------------------------


def load_app(variant: str) -> Any:
    """The Celery app of `variant`, imported the way its web process imports it."""
    if variant == "shop":
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
        django.setup()
        from config.celery_app import app

        return app
    if variant == "blog":
        from make_celery import celery_app

        return celery_app
    from reports.celery_app import celery_app

    return celery_app


def round_trip(variant: str) -> Callable[[], object]:
    """One round trip of `variant`, ready to be timed."""
    if variant == "redis":
        return redis.Redis.from_url(SharedSettings().celery_broker_url).ping
    if variant == "shop-django-db":
        load_app("shop")
        from shop.tasks import ping

        # The shop's health check's own call, results polled in its database.
        return lambda: ping.apply_async(queue=queue("shop")).get(timeout=10)
    if variant in APPS:
        app = load_app(variant)
        from bench.tasks import use_redis_results

        task = use_redis_results(app)
    elif variant == "bare":
        from bench.bare import noop as task
    elif variant == "unmonitored":
        from bench.unmonitored import noop as task
    elif variant == "without_events":
        from bench.unmonitored import without_events_noop as task
    elif variant == "without_started":
        from bench.unmonitored import without_started_noop as task
    else:
        from bench.vetted import noop as task
    name = queue(variant)
    return lambda: task.apply_async(queue=name).get(timeout=10)


def client(variant: str) -> None:
    """Answer each line N on stdin with the JSON list of N round trips' seconds.

    Prints `ready` once a round trip has succeeded (its worker may still be starting)
    and WARMUP more have run. Only these lines go to stdout: anything the app prints
    goes to stderr, the client's log.
    """
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    once = round_trip(variant)
    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            once()
            break
        except Exception as error:  # the worker is not consuming yet: a timeout, a refusal
            if time.monotonic() > deadline:
                raise
            print(f"not ready yet: {error!r}", file=sys.stderr, flush=True)
    for _ in range(1 if variant == "shop-django-db" else WARMUP):
        once()
    print("ready", file=protocol, flush=True)
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            begun = time.perf_counter()
            once()
            times.append(time.perf_counter() - begun)
        print(json.dumps(times), file=protocol, flush=True)


# --- the bench ---------------------------------------------------------------------


class Client:
    """A client process of one variant, driven over its stdin and stdout."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process, self.log = process, log

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise BenchError(f"a bench client exited; the end of {self.log}:\n{tail(self.log)}")
        return line

    def wait_ready(self) -> None:
        if self._line().strip() != "ready":
            raise BenchError(f"a bench client did not start; see {self.log}")

    def measure(self, calls: int) -> list[float]:
        """`calls` round trips, in milliseconds."""
        stdin: IO[str] | None = self.process.stdin
        assert stdin is not None
        stdin.write(f"{calls}\n")
        stdin.flush()
        return [seconds * 1000 for seconds in json.loads(self._line())]


@contextmanager
def client_process(variant: str, bench: Stack) -> Iterator[Client]:
    log = bench.log_dir / f"integration-client-{variant}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.integration", "client", variant]
    cwd = APP_DIRS.get(variant.removesuffix("-django-db"), ROOT)
    with log.open("a") as errors:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=bench.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
    try:
        yield Client(process, log)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> list[Figure]:
    bench = running_stack()
    per_round: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    with ExitStack() as running:
        for variant, (_, cwd) in WORKERS.items():
            log = bench.log_dir / f"integration-worker-{variant}.log"
            running.enter_context(
                started(worker_command(variant), cwd=cwd, env=bench.env(), log=log)
            )
        clients = {v: running.enter_context(client_process(v, bench)) for v in VARIANTS}
        for each in clients.values():
            each.wait_ready()
        for order in stats.rounds(VARIANTS, ROUNDS):
            for variant in order:
                times = clients[variant].measure(CALLS)
                samples[variant] += times
                per_round[variant].append(stats.median(times))
        with client_process("shop-django-db", bench) as own:
            own.wait_ready()
            django_db = own.measure(DJANGO_DB_CALLS)
    return figures(per_round, samples, django_db)


def figures(
    per_round: dict[str, list[float]], samples: dict[str, list[float]], django_db: list[float]
) -> list[Figure]:
    """The figures of the measured rounds: the floor, the bare app, then each app's ratio."""
    rounds = f"{ROUNDS} interleaved rounds of {CALLS} calls"

    def ms(variant: str) -> str:
        return f"{stats.median(samples[variant]):.2f} ms"

    def to_bare(name: str, variant: str, how: str) -> Figure:
        """`variant`'s round trip against the bare app's, as the median of per-round ratios."""
        return Figure(
            name,
            stats.paired_ratio(per_round[variant], per_round["bare"]),
            "x",
            comparison=f"{ms(variant)} against {ms('bare')}: {how}",
            samples=tuple(
                v / b for v, b in zip(per_round[variant], per_round["bare"], strict=True)
            ),
        )

    found = [
        Figure(
            "Redis PING round trip (the floor)",
            stats.median(samples["redis"]),
            "ms",
            comparison=f"redis-py from a client process; median of {rounds}",
            samples=tuple(samples["redis"]),
        ),
        Figure(
            "bare Celery app: no-op task round trip",
            stats.median(samples["bare"]),
            "ms",
            comparison=f"apply_async().get(), Redis broker and results; median of {rounds}",
            samples=tuple(samples["bare"]),
        ),
        to_bare(
            "shared configuration alone (create_celery_app) / bare app",
            "vetted",
            f"median of per-round ratios, {rounds}",
        ),
        to_bare(
            "  the shared configuration without the STARTED state / bare app",
            "without_started",
            "what the task events cost with the rest; task_track_started off",
        ),
        to_bare(
            "  the shared configuration without task events / bare app",
            "without_events",
            "what the STARTED state costs with the rest; worker_send_task_events off",
        ),
        to_bare(
            "  the shared configuration without task events and the STARTED state / bare app",
            "unmonitored",
            "what the rest of it costs; worker_send_task_events and task_track_started off",
        ),
    ]
    for app in APPS:
        ratios = [a / b for a, b in zip(per_round[app], per_round["bare"], strict=True)]
        found.append(
            Figure(
                f"{app}: no-op task round trip / bare app",
                stats.median(ratios),
                "x",
                target=1.05,
                comparison=f"{ms(app)} against {ms('bare')}; median of per-round ratios, {rounds}",
                samples=tuple(ratios),
            )
        )
    for app in APPS:
        ratios = [a / v for a, v in zip(per_round[app], per_round["vetted"], strict=True)]
        found.append(
            Figure(
                f"{app}: no-op task round trip / shared configuration alone",
                stats.median(ratios),
                "x",
                comparison=f"{ms(app)} against {ms('vetted')}: the framework's own share",
                samples=tuple(ratios),
            )
        )
    found.append(
        Figure(
            "shop: its own ping, results in its database (django-db)",
            stats.median(django_db),
            "ms",
            comparison=f"shop.tasks.ping, as /health/worker sends it; median of {len(django_db)} "
            "calls, after the rounds: AsyncResult.get polls the database every 0.5 s",
            samples=tuple(django_db),
        )
    )
    return found


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"] and len(sys.argv) == 3:
        client(sys.argv[2])
    else:
        sys.exit("usage: python -m bench.integration client VARIANT (the bench starts it)")
