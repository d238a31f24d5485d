"""Fault tests against the running native stack: `make test-faults` starts one, with
short task time limits and confirmation grace that the tests' waits count on (it
refuses a stack `make up` started, which has the usual ones), and these tests kill
its processes.

Every wait is bounded, and after each test every service is running and healthy
again (or the test fails), so one broken test does not break the next.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402 (the script is not a package)
from clients import Blogger, ReportsUser, Shopper  # noqa: E402
from stack import StackSettings  # noqa: E402

# How long a killed service may take to answer its probe again. A worker needs
# the longest (its app's imports, then its pool): about 6 s on two idle cores,
# much more on a loaded machine. The summary line gives the times measured.
RECOVERY_SECONDS = 30.0
# How long the stack may take to become healthy again after a test.
SETTLE_SECONDS = 60.0

recoveries: list[tuple[str, float]] = []


@pytest.fixture(scope="session")
def config() -> StackSettings:
    return stack.settings()


@pytest.fixture(scope="session")
def var(config: StackSettings) -> Path:
    if not stack.native_running(config.var_dir):
        pytest.exit("the native stack is not running: run `make test-faults`", returncode=2)
    return config.var_dir


@pytest.fixture
def shopper(config: StackSettings) -> Iterator[Shopper]:
    with Shopper(config.shop_url) as customer:
        yield customer


@pytest.fixture
def blogger(config: StackSettings) -> Iterator[Blogger]:
    with Blogger(config.blog_url) as user:
        yield user


@pytest.fixture
def reports_user(config: StackSettings) -> Iterator[ReportsUser]:
    with ReportsUser(config.reports_url) as user:
        yield user


def wait_for(what: str, predicate: Callable[[], Any], *, timeout: float) -> float:
    """Poll `predicate` until it holds; return the seconds it took, or fail at `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - started


def healthy(name: str, config: StackSettings, var: Path) -> bool:
    """Does `name` answer its probe? (New probes each time: they cache worker pings.)"""
    return stack.checks(config, var)[name]()


def restarted(name: str, old_pid: int, config: StackSettings, var: Path) -> Callable[[], bool]:
    """A predicate: `name` runs under a pid other than `old_pid`, and answers its probe."""

    def check() -> bool:
        pid = stack.service_pid(name, var)
        return pid is not None and pid != old_pid and healthy(name, config, var)

    return check


@contextmanager
def watching_web_apps(config: StackSettings) -> Iterator[dict[str, list[int | None]]]:
    """Poll each web app's /health in the background while the block runs; yield, by
    URL, every answer's HTTP status (None: no answer at all).
    """
    urls = [f"{url}/health" for url in (config.shop_url, config.blog_url, config.reports_url)]
    answers: dict[str, list[int | None]] = {url: [] for url in urls}
    done = threading.Event()

    def poll() -> None:
        with httpx2.Client(timeout=5) as client:
            while not done.is_set():
                for url in urls:
                    try:
                        answers[url].append(client.get(url).status_code)
                    except httpx2.HTTPError:
                        answers[url].append(None)
                done.wait(0.25)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield answers
    finally:
        done.set()
        watcher.join(timeout=30)


def restore(config: StackSettings, var: Path) -> None:
    """Start any service that is stopped, and wait until every one is healthy."""
    states = stack.program_states(var)
    if stopped := [name for name, (state, _) in states.items() if state in stack.STOPPED_STATES]:
        stack.supervisorctl(var, "start", *stopped, timeout=SETTLE_SECONDS)
    for name in states:
        wait_for(f"{name} healthy", partial(healthy, name, config, var), timeout=SETTLE_SECONDS)


@pytest.fixture(autouse=True)
def stack_restored(config: StackSettings, var: Path) -> Iterator[None]:
    """After each test, the whole stack runs and is healthy again."""
    yield
    restore(config, var)


@contextmanager
def stopped(service: str, var: Path) -> Iterator[None]:
    """`service` is stopped (supervisorctl stop: SIGTERM, as a deploy does) in the block."""
    stack.supervisorctl(var, "stop", service, timeout=60)
    try:
        yield
    finally:
        stack.supervisorctl(var, "start", service, timeout=60)


@contextmanager
def frozen(service: str, var: Path) -> Iterator[int]:
    """`service` hangs (SIGSTOP): connections are accepted, nothing is answered."""
    pid = stack.service_pid(service, var)
    assert pid is not None, f"{service} is not running"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if recoveries:
        lines = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in recoveries)
        terminalreporter.write_line(f"healthy again after SIGKILL: {lines}")
