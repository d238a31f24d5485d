"""Start-up: a warm `make up` until every service is healthy, service by service, and `make e2e`.

Warm: the running stack is stopped with `make down` (timed too), var/ kept, so that
`make up` has nothing to migrate and nothing to seed; then `make up` is timed from
its start until it returns, which it does once every service answers its probe.

Where the time goes. While `make up` runs, a watcher probes every service itself,
every 0.1 s (the web apps' /health, the mail catcher's /livez, Flower's /healthcheck,
a Redis PING, one Celery ping for the three workers), and reads supervisord's log
for the moment it spawned each service (and, for the beats, which have nothing to
probe, the moment they count as RUNNING: startsecs, 3 s). So each service has its
start-to-healthy time, and the run its phases: before supervisord (make, uv, each
app's bin/migrate, which `make up` runs at once) and after the last service is
healthy until `make up` notices. Then, with the stack up again, each app's
bin/migrate is timed alone, and the import of each app's entry module, with
`python -X importtime`, summed by top-level package. Last, `make e2e` against the
restarted stack.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from celery import Celery
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from bench.figures import Figure
from bench.harness import (
    APP_DIRS,
    ROOT,
    BenchError,
    Stack,
    cpu_seconds,
    running_stack,
    stack,
    tail,
)
from shared.settings import SharedSettings

UP_TARGET = 15.0
E2E_TARGET = 120.0
WORKERS = {"shop-worker": "shop", "blog-worker": "blog", "reports-worker": "reports"}
BEATS = ("shop-beat", "blog-beat")
#: The module each app's processes import first, and what importing it runs.
ENTRY_MODULES = {
    "shop": ("config.wsgi", "django.setup(): settings, apps, models, the Celery app"),
    "blog": ("make_celery", "create_app() and the Celery app"),
    "reports": ("reports.main", "create_app(), the database engine, the Celery app"),
}
SUPERVISORD_LINE = re.compile(
    r"^(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ "
    r"(?:spawned: '(?P<spawned>[\w-]+)'|success: (?P<running>[\w-]+) entered RUNNING)"
)


@dataclass
class Timeline:
    """Wall-clock times (time.time()) of what happened during one `make up`."""

    started: float
    spawned: dict[str, float] = field(default_factory=dict)
    healthy: dict[str, float] = field(default_factory=dict)
    output: list[tuple[float, str]] = field(default_factory=list)  # make up's lines
    returned: float = 0.0
    make_cpu: float = 0.0  # CPU seconds of `make up` and what it waited for (bin/migrate)
    service_cpu: dict[str, float] = field(default_factory=dict)  # each service's, to start


def read_supervisord_log(log: Path, offset: int, timeline: Timeline) -> None:
    """The spawn times of the services, and the beats' RUNNING, from supervisord's log."""
    with log.open("rb") as text:
        text.seek(offset)
        lines = text.read().decode(errors="replace").splitlines()
    for line in lines:
        if not (match := SUPERVISORD_LINE.match(line)):
            continue
        when = datetime.strptime(match["when"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if match["spawned"]:
            timeline.spawned.setdefault(match["spawned"], when)
        elif match["running"] in BEATS:
            timeline.healthy.setdefault(match["running"], when)


class Watcher:
    """Probes every service but the beats every 0.1 s, each in a thread of its own (a
    probe may wait for its timeout); notes when each first answers.
    """

    def __init__(self, bench: Stack, timeline: Timeline) -> None:
        self.timeline, self.done = timeline, threading.Event()
        config = bench.config
        probes: dict[str, Callable[[], bool]] = {
            "redis": lambda: stack.redis_answers(config.celery_broker_url),
            "mail": lambda: stack.http_ok(f"{config.mail_url}/livez"),
            "flower": lambda: stack.http_ok(f"{config.flower_url}/healthcheck"),
            "shop-web": lambda: stack.http_ok(f"{config.shop_url}/health"),
            "blog-web": lambda: stack.http_ok(f"{config.blog_url}/health"),
            "reports-web": lambda: stack.http_ok(f"{config.reports_url}/health"),
        }
        self.threads = [
            threading.Thread(target=self._watch, args=(name, probe), daemon=True)
            for name, probe in probes.items()
        ]
        self.threads.append(threading.Thread(target=self._workers, args=(config,), daemon=True))

    def __enter__(self) -> Watcher:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join()

    def _watch(self, name: str, probe: Callable[[], bool]) -> None:
        while not self.done.is_set():
            if probe():
                self.timeline.healthy[name] = time.time()
                return
            self.done.wait(0.1)

    def _workers(self, config: SharedSettings) -> None:
        """One Celery ping for the workers that have not answered yet: it returns when they
        all have, else after its timeout. Once `make up` returns, a last ping with a longer
        timeout hears the workers stack.py heard just before (a loaded machine answers late).
        """
        celery = Celery(broker=config.celery_broker_url)
        healthy = self.timeline.healthy

        def ping(timeout: float) -> None:
            missing = {f"{queue}@{stack.HOST}": name for name, queue in WORKERS.items()}
            missing = {node: name for node, name in missing.items() if name not in healthy}
            try:
                replies = celery.control.ping(list(missing), timeout=timeout, limit=len(missing))
            except (OSError, KombuError, RedisError):  # Redis still loading its data
                replies = []
            # A reply heard after `make up` returned was sent before: stack.py heard it.
            answered = min(time.time(), self.timeline.returned or time.time())
            for node in {node for reply in replies or [] for node in reply} & set(missing):
                healthy.setdefault(missing[node], answered)

        while not self.done.is_set() and not all(name in healthy for name in WORKERS):
            if "redis" in healthy:  # before, a ping would wait for the broker
                ping(timeout=0.5)
            self.done.wait(0.1)
        if not all(name in healthy for name in WORKERS):
            ping(timeout=2.0)
        celery.close()


def make(target: str, log: Path, timeline: Timeline | None = None) -> float:
    """Run `make TARGET` in the repository; its seconds. Its output goes to `log` (and,
    with a timeline, each line is timed as it comes).
    """
    begun = time.monotonic()
    with log.open("a") as out:
        process = subprocess.Popen(
            ["make", target], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if timeline is not None:
                timeline.output.append((time.time(), line.rstrip()))
        code = process.wait()
    if code != 0:
        raise BenchError(f"`make {target}` failed ({code}); the end of {log}:\n{tail(log)}")
    return time.monotonic() - begun


def warm_up(bench: Stack) -> Timeline:
    """`make up` on the stopped stack, watched."""
    supervisord_log = bench.var / "log" / "supervisord.log"
    offset = supervisord_log.stat().st_size if supervisord_log.exists() else 0
    timeline = Timeline(started=time.time())
    cpu_before = children_cpu()
    with Watcher(bench, timeline):
        try:
            make("up", bench.log_dir / "startup-make-up.log", timeline)
        finally:
            timeline.returned = time.time()
    timeline.make_cpu = children_cpu() - cpu_before
    timeline.service_cpu = services_cpu(bench)
    read_supervisord_log(supervisord_log, offset, timeline)
    return timeline


def children_cpu() -> float:
    """CPU seconds of this process's children that exited, and of what they waited for:
    `make up`, uv, stack.py and the three bin/migrate with their Python processes, not
    supervisord (it detaches) nor the services it starts.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def services_cpu(bench: Stack) -> dict[str, float]:
    """CPU seconds each service has used since it started (its process and descendants):
    read right after `make up` returns, that is what starting it took.
    """
    found = {}
    for name, (_, description) in stack.program_states(bench.var).items():
        if running := re.match(r"pid (\d+)", description):
            found[name] = cpu_seconds(int(running[1]))
    return found


def phase(timeline: Timeline, text: str) -> float:
    """When `make up` printed its first line containing `text`."""
    for when, line in timeline.output:
        if text in line:
            return when
    raise BenchError(f"`make up` never printed {text!r}")


def timeline_figures(timeline: Timeline, services: list[str]) -> list[Figure]:
    start = timeline.started
    missing = [name for name in services if name not in timeline.healthy]
    if missing or not timeline.spawned:
        raise BenchError(f"the watcher saw no answer from {', '.join(missing) or 'supervisord'}")
    migrate_start = phase(timeline, "running each app's bin/migrate")
    migrate_end = phase(timeline, "migrated in")
    first_spawn = min(timeline.spawned.values())
    last_healthy = max(timeline.healthy[name] for name in services)
    found = [
        Figure(
            "warm `make up`: start to every service healthy",
            timeline.returned - start,
            "s",
            target=UP_TARGET,
            comparison="the stack stopped by `make down`, var/ kept: nothing to migrate or seed",
        ),
        Figure(
            "  make, uv and stack.py before the migrations",
            migrate_start - start,
            "s",
            comparison="from `make up` to stack.py starting every bin/migrate",
        ),
        Figure(
            "  the three bin/migrate at once",
            migrate_end - migrate_start,
            "s",
            comparison="from their start until the last one exited (stack.py's output)",
        ),
        Figure(
            "  supervisord started until the last service is healthy",
            last_healthy - first_spawn,
            "s",
            comparison=f"{len(services)} services starting together on the machine's cores",
        ),
        Figure(
            "  the last service healthy until `make up` returns",
            timeline.returned - last_healthy,
            "s",
            comparison="stack.py's probes: a round every 0.5 s, one Celery ping (at most "
            "1 s) for every pending worker",
        ),
        *cpu_figures(timeline),
    ]
    for name in sorted(services, key=lambda name: timeline.healthy[name]):
        how = "RUNNING after supervisord's startsecs (3 s)" if name in BEATS else "its probe"
        found.append(
            Figure(
                f"  {name}: spawned until healthy",
                timeline.healthy[name] - timeline.spawned[name],
                "s",
                comparison=f"{how}; healthy {timeline.healthy[name] - start:.1f} s into `make up`",
            )
        )
    return found


def cpu_figures(timeline: Timeline) -> list[Figure]:
    """The CPU the warm start took, and the least time that takes on this machine."""
    services = sum(timeline.service_cpu.values())
    heaviest = sorted(timeline.service_cpu.items(), key=lambda item: -item[1])[:4]
    cores = os.cpu_count() or 1
    return [
        Figure(
            "  CPU: make, uv, stack.py and the three bin/migrate",
            timeline.make_cpu,
            "s",
            comparison="user and system time of `make up` and the processes it waited for",
        ),
        Figure(
            "  CPU: every service, to start",
            services,
            "s",
            comparison="each service's process and descendants, read as `make up` returned; most: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in heaviest),
        ),
        Figure(
            f"  that CPU spread over the machine's {cores} cores",
            (timeline.make_cpu + services) / cores,
            "s",
            comparison="the least a warm `make up` can take here, with nothing else running",
        ),
    ]


def migrate_alone(app: str, bench: Stack) -> Figure:
    """The app's bin/migrate by itself, on the running stack's (migrated) database."""
    script = APP_DIRS[app] / "bin" / "migrate"
    begun = time.monotonic()
    result = subprocess.run(
        [script], cwd=ROOT, env=bench.env(), capture_output=True, text=True, timeout=300
    )
    seconds = time.monotonic() - begun
    if result.returncode != 0:
        raise BenchError(f"{script} failed:\n{result.stdout[-1000:]}{result.stderr[-1000:]}")
    steps = sum(
        1
        for line in script.read_text().splitlines()
        if re.match(r"^(exec )?(python|flask|alembic) ", line)
    )
    return Figure(
        f"{app}: bin/migrate alone, nothing to do",
        seconds,
        "s",
        comparison=f"{steps} Python {'process' if steps == 1 else 'processes'}, each loading "
        "the app first",
    )


def import_time(app: str, bench: Stack) -> Figure:
    """`python -X importtime -c 'import MODULE'`: its wall time, and where the imports go."""
    module, runs = ENTRY_MODULES[app]
    command = [sys.executable, "-X", "importtime", "-c", f"import {module}"]
    begun = time.monotonic()
    result = subprocess.run(
        command, cwd=APP_DIRS[app], env=bench.env(), capture_output=True, text=True, timeout=120
    )
    seconds = time.monotonic() - begun
    if result.returncode != 0:
        raise BenchError(f"importing {module} failed:\n{result.stderr[-2000:]}")
    by_package = import_self_times(result.stderr)
    heaviest = ", ".join(f"{name} {us / 1e6:.2f} s" for name, us in by_package.most_common(4))
    return Figure(
        f"{app}: python -c 'import {module}'",
        seconds,
        "s",
        comparison=f"{runs}; importing {sum(by_package.values()) / 1e6:.2f} s of it, most in "
        f"{heaviest}",
    )


def import_self_times(importtime: str) -> Counter[str]:
    """Microseconds of `-X importtime` output spent importing each top-level package."""
    spent: Counter[str] = Counter()
    for line in importtime.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            spent[parts[2].strip().split(".")[0]] += int(parts[0])
    return spent


def main() -> list[Figure]:
    bench = running_stack()
    services = stack.supervised(bench.config, stack.program_states(bench.var))
    bench.log_dir.mkdir(parents=True, exist_ok=True)
    down = make("down", bench.log_dir / "startup-make-down.log")
    timeline = warm_up(bench)
    found = timeline_figures(timeline, services)
    found.append(
        Figure(
            "`make down` before it",
            down,
            "s",
            comparison="supervisord stops the workers, the web apps, then Redis and mail",
        )
    )
    found += [migrate_alone(app, bench) for app in APP_DIRS]
    found += [import_time(app, bench) for app in APP_DIRS]
    e2e = make("e2e", bench.log_dir / "startup-make-e2e.log")
    found.append(
        Figure(
            "`make e2e` against the running stack",
            e2e,
            "s",
            target=E2E_TARGET,
            comparison="every browser test, Chromium headless; make and uv included",
        )
    )
    return found
