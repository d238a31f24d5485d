"""Order committed to confirmation accepted by SMTP: the shop's email latency, p50 and p95.

From the moment an order's transaction commits to the moment the SMTP server has
the whole confirmation (the end of DATA), for each of a few hundred orders placed
through the shop's real checkout at a steady pace.

How. The commit time: the bench serves the shop's own WSGI app (bench.servers), whose
on_commit callback, the one that publishes the confirmation, notes time.time() as it
starts (`log_commits`), right after COMMIT returned. The receive time: an aiosmtpd sink
of the bench's (`python -m bench.confirmation sink`), a process like the stack's mail
catcher, that notes time.time() when DATA ends. Nothing is polled: both ends write
down their own clock, the same machine's. The confirmations are sent by a shop worker
the bench starts as bin/worker starts the stack's (same code, concurrency and
options), on a queue of its own and with SMTP_PORT pointing at the sink; the stack's
worker and mail catcher see none of it. (Once the stack's mail catcher reports the
receive time with microseconds as its `Created`, as Mailpit does, its API can replace
this sink.) The orders are paced, not sent as fast as possible: the figure is the
latency of an order on a shop that keeps up, not the length of a queue. The first
WARMUP orders are left out (the worker's first task loads its templates and modules).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from contextlib import ExitStack
from email.parser import BytesHeaderParser
from pathlib import Path
from threading import Event
from typing import Any

import httpx2
from aiosmtpd.controller import Controller
from celery import Celery

from bench import stats
from bench.enqueue import ShopCheckout, delete_queue, serve, shop_catalogue
from bench.figures import Figure
from bench.harness import (
    APP_DIRS,
    ROOT,
    BenchError,
    Stack,
    free_port,
    running_stack,
    stack,
    started,
    tail,
    wait_until,
)

ORDERS = 200
WARMUP = 10
INTERVAL = 0.1  # seconds between the starts of two checkouts: 10 orders a second
QUEUE = "bench.confirm"
WORKER = "confirm.bench"  # never "shop@...": pages and tests look for that
DELIVERY_SECONDS = 60.0  # for the last email after the last order


# --- the SMTP sink process -------------------------------------------------------------


class Recorder:
    """An aiosmtpd handler that accepts every message and writes down when DATA ended."""

    def __init__(self, out: Path) -> None:
        self.out = out.open("a", buffering=1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        received = time.time()  # first: the parsing below is not the server's
        headers = BytesHeaderParser().parsebytes(envelope.content)
        line = {"received": received, "message_id": str(headers["Message-ID"] or "")}
        self.out.write(json.dumps(line) + "\n")
        return "250 Message accepted for delivery"


def sink(port: int, out: Path) -> None:
    """Serve SMTP on 127.0.0.1:`port` until SIGTERM, a line in `out` per message."""
    controller = Controller(Recorder(out), hostname="127.0.0.1", port=port)
    controller.start()
    stopped = Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


# --- the bench ---------------------------------------------------------------------


def order_number(message_id: str) -> str | None:
    """The order number in a confirmation's Message-ID, `<order-SO-7K2M9QXA.confirmation@...>`."""
    local = message_id.strip().strip("<>").partition("@")[0]
    if not (local.startswith("order-") and local.endswith(".confirmation")):
        return None
    return local.removeprefix("order-").removesuffix(".confirmation")


def read_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def latencies(commits: Path, received: Path, numbers: list[str]) -> list[float]:
    """Milliseconds from commit to the end of DATA, for each order of `numbers`."""
    committed = {line["number"]: line["committed"] for line in read_lines(commits)}
    arrived: dict[str, float] = {}
    for line in read_lines(received):
        number = order_number(line["message_id"])
        if number is not None:
            # A second copy (a retry) would arrive later: the first is the latency.
            arrived.setdefault(number, line["received"])
    missing = [number for number in numbers if number not in committed or number not in arrived]
    if missing:
        raise BenchError(f"{len(missing)} orders have no commit or no email, such as {missing[0]}")
    return [(arrived[number] - committed[number]) * 1000 for number in numbers]


async def place_orders(url: str, product_id: int) -> list[str]:
    """WARMUP, then ORDERS checkouts started INTERVAL apart; the measured orders' numbers."""
    async with httpx2.AsyncClient(base_url=url, timeout=30) as client:
        customer = ShopCheckout(client, product_id, who="confirmation")
        await customer.prepare()
        for _ in range(WARMUP):
            await customer.once()
        begun = time.monotonic()
        for number in range(ORDERS):
            await asyncio.sleep(max(0.0, begun + number * INTERVAL - time.monotonic()))
            await customer.once()
        return customer.orders[WARMUP:]


def worker_command() -> list[str]:
    """The shop's bin/worker, on the bench's queue."""
    command = ["celery", "-A", "config.celery_app", "worker", "-Q", QUEUE, "-n", f"{WORKER}@%h"]
    return [*command, "--loglevel=INFO", "--concurrency=2"]


def worker_answers(bench: Stack) -> bool:
    app = Celery(broker=bench.config.celery_broker_url)
    try:
        return bool(app.control.ping(destination=[f"{WORKER}@{stack.HOST}"], timeout=0.5))
    finally:
        app.close()


def measure(bench: Stack, product_id: int, commits: Path, received: Path) -> list[float]:
    port = free_port()
    with ExitStack() as running:
        log = bench.log_dir / "confirmation-sink.log"
        command = [sys.executable, "-m", "bench.confirmation", "sink", str(port), str(received)]
        running.enter_context(started(command, cwd=ROOT, env=bench.env(), log=log))
        wait_until("the SMTP sink", lambda: stack.port_in_use(port), timeout=30)
        log = bench.log_dir / "confirmation-worker.log"
        env = bench.env(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
        running.enter_context(started(worker_command(), cwd=APP_DIRS["shop"], env=env, log=log))
        try:
            wait_until("the bench's shop worker", lambda: worker_answers(bench), timeout=120)
        except BenchError as error:
            raise BenchError(f"{error}; the end of {log}:\n{tail(log)}") from None
        url = running.enter_context(
            serve("shop", bench, publish="real", queue=QUEUE, BENCH_COMMIT_LOG=str(commits))
        )
        numbers = asyncio.run(place_orders(url, product_id))
        wait_until(
            "every confirmation",
            lambda: len(read_lines(received)) >= WARMUP + ORDERS,
            timeout=DELIVERY_SECONDS,
        )
    return latencies(commits, received, numbers)


def main() -> list[Figure]:
    bench = running_stack()
    commits = bench.log_dir / "confirmation-commits.jsonl"
    received = bench.log_dir / "confirmation-received.jsonl"
    for path in (commits, received):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    product_id = int(shop_catalogue("open", bench))
    try:
        measured = measure(bench, product_id, commits, received)
    finally:
        shop_catalogue("close", bench)
        delete_queue(bench, QUEUE)
    basis = (
        f"{ORDERS} orders, one every {INTERVAL * 1000:.0f} ms; on_commit time.time() to the "
        "SMTP sink's time.time() at the end of DATA"
    )
    return [
        Figure(
            "shop: order committed -> confirmation accepted by SMTP, p50",
            stats.percentile(measured, 50),
            "ms",
            target=50,
            comparison=basis,
            samples=tuple(measured),
        ),
        Figure(
            "shop: order committed -> confirmation accepted by SMTP, p95",
            stats.percentile(measured, 95),
            "ms",
            target=150,
            comparison=basis,
        ),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "sink":
        sink(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit("usage: python -m bench.confirmation sink PORT FILE (the bench starts it)")
