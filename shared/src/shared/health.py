"""Health checks the three apps share: the broker, and a round trip through a worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from celery import Celery, Task


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


def run_check(name: str, probe: Callable[[], str]) -> Check:
    """Run `probe`; whatever it returns is the detail, whatever it raises is the failure."""
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as exc:  # a health check reports every failure, it never raises
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Check(name, ok, detail, round(time.perf_counter() - started, 4))


def check_broker(app: Celery, *, timeout: int = 2) -> Check:
    """Can this app open a connection to its broker?"""

    def probe() -> str:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            return connection.as_uri()

    return run_check("broker", probe)


def check_worker_roundtrip(ping: Task[Any, Any], *, timeout: float = 5.0) -> Check:
    """Send `ping` through the app's own queue and wait for its worker's answer.

    The ping expires when the wait does: while no worker consumes the queue,
    health checks must not pile up pings for the next worker to wade through.
    """

    def probe() -> str:
        return str(ping.apply_async(expires=timeout).get(timeout=timeout))

    return run_check("worker", probe)


def report(*checks: Check) -> tuple[dict[str, Any], int]:
    """The JSON body and HTTP status of a health endpoint: 200 when every check passed."""
    ok = all(check.ok for check in checks)
    body = {"status": "ok" if ok else "fail", "checks": [asdict(check) for check in checks]}
    return body, 200 if ok else 503
