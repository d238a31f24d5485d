"""Enqueue cost on the request path: each endpoint that publishes, against a no-op publish.

Each app's endpoint that publishes a task is timed with the real publish and with the
publish replaced by a no-op: the shop's checkout (POST /checkout/, which publishes the
confirmation once the order commits), the blog's export request (POST /account/exports)
and the reports' report request (POST /api/reports). The figure is what the publish
adds to the endpoint's median latency.

How. For each app the bench serves the app's own WSGI/ASGI object twice, as its
bin/web does (gunicorn, one worker; uvicorn) on ports of its own: one server
publishes for real, to a queue of the bench's that no worker consumes (so no task
runs and loads the machine while it is timed; the messages are counted, then
deleted), the other with the task's `apply_async` replaced by a no-op
(bench.servers). Both use the stack's databases and Redis. An asyncio httpx2 driver
sends one request at a time, so a latency is the request's own, never time spent
queued behind another; what an endpoint needs first and is not timed (the shop's
add-to-cart, deleting the blog user's previous export so that each request starts
a new one) is done between requests. The two servers are measured in interleaved
rounds; the added p50 is the median over rounds of the difference of the two p50s
of that round. Beside it, for context, one publish timed alone (wall and CPU), in a
loop outside any request, with the app loaded as its server loads it: on a loaded
machine the added p50 grows with the wait for a core, the publish itself does not.
The bench's orders are cancelled at the end and its product taken off sale; the
blog's exports are deleted; the reports are cancelled.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from typing import Protocol

import httpx2
import sqlalchemy

from bench import stats
from bench.figures import Figure
from bench.harness import (
    APP_DIRS,
    BenchError,
    Stack,
    free_port,
    http_ok,
    running_stack,
    started,
    tail,
    wait_until,
)
from bench.servers import CUSTOMER_DOMAIN
from blog.settings import BlogSettings

ROUNDS = 20
REQUESTS = 25  # per server and round
WARMUP = 10  # requests to each server before the rounds
PUBLISHES = 1000  # publishes timed alone, outside any request
VARIANTS = ("real", "noop")
SERVER_START_SECONDS = 60.0


def server_command(app: str, port: int) -> list[str]:
    """The app's server as its bin/web runs it, serving the bench.servers factory."""
    if app == "reports":
        return ["uvicorn", "--factory", "bench.servers:reports", "--port", str(port)]
    return [
        "gunicorn",
        f"bench.servers:{app}()",
        f"--bind=127.0.0.1:{port}",
        "--workers=1",
        "--access-logfile=-",
        "--no-control-socket",
    ]


@contextmanager
def serve(app: str, bench: Stack, *, publish: str, queue: str, **env: str) -> Iterator[str]:
    """The app's server (bench.servers) on a free port, publishing as `publish` says;
    its base URL once /health answers.
    """
    port = free_port()
    log = bench.log_dir / f"server-{app}-{publish}.log"
    environment = bench.env(BENCH_PUBLISH=publish, BENCH_QUEUE=queue, **env)
    command = server_command(app, port)
    with started(command, cwd=APP_DIRS[app], env=environment, log=log) as process:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(
                f"{app} server",
                lambda: process.poll() is not None or http_ok(f"{url}/health"),
                timeout=SERVER_START_SECONDS,
            )
        except BenchError as error:
            raise BenchError(f"{error}; the end of {log}:\n{tail(log)}") from None
        if process.poll() is not None:
            raise BenchError(f"the {app} server exited; the end of {log}:\n{tail(log)}")
        yield url


def shop_catalogue(action: str, bench: Stack) -> str:
    """`python -m bench.servers catalogue ACTION` against the stack's shop database."""
    command = [sys.executable, "-m", "bench.servers", "catalogue", action]
    result = subprocess.run(
        command, cwd=APP_DIRS["shop"], env=bench.env(), capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise BenchError(f"bench.servers catalogue {action} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def expect(response: httpx2.Response, status: int, what: str) -> httpx2.Response:
    if response.status_code != status:
        raise BenchError(
            f"{what}: HTTP {response.status_code}, not {status}: {response.text[:300]}"
        )
    return response


# --- what each endpoint needs, and the timed request ----------------------------------


class Flow(Protocol):
    """One client of one endpoint."""

    async def prepare(self) -> None: ...

    async def once(self) -> float:
        """Make the endpoint ready (untimed), then time one request: its milliseconds."""
        ...

    async def finish(self) -> None: ...


async def timed(request: Awaitable[httpx2.Response]) -> tuple[httpx2.Response, float]:
    """`request`'s response and its milliseconds: a coroutine starts when it is awaited."""
    begun = time.perf_counter()
    response = await request
    return response, (time.perf_counter() - begun) * 1000


class ShopCheckout:
    """A customer who puts the bench product in the cart, then checks out (timed)."""

    def __init__(self, client: httpx2.AsyncClient, product_id: int, who: str = "enqueue") -> None:
        self.client, self.product_id, self.who, self.count = client, product_id, who, 0
        self.orders: list[str] = []  # the numbers of the orders placed, in order

    async def prepare(self) -> None:
        expect(await self.client.get("/checkout/"), 200, "the checkout page")  # the CSRF cookie

    async def once(self) -> float:
        token = {"csrfmiddlewaretoken": self.client.cookies["csrftoken"]}
        added = await self.client.post(
            f"/cart/add/{self.product_id}/", data={"quantity": 1, **token}
        )
        expect(added, 302, "add to cart")
        self.count += 1
        email = f"{self.who}-{secrets.token_hex(4)}-{self.count}@{CUSTOMER_DOMAIN}"
        form = {"name": "Bench Customer", "email": email, **token}
        response, ms = await timed(self.client.post("/checkout/", data=form))
        location = expect(response, 302, "checkout").headers["location"]
        self.orders.append(location.rstrip("/").rpartition("/")[2])  # /orders/SO-.../
        return ms

    async def finish(self) -> None:
        """Nothing: `catalogue close` cancels the bench's orders."""


CSRF_INPUT = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


class BlogExport:
    """A new blog user who asks for an export (timed), its previous one deleted first."""

    def __init__(self, client: httpx2.AsyncClient, database: sqlalchemy.Engine) -> None:
        self.client, self.database = client, database
        self.username = f"bench-{secrets.token_hex(4)}"
        self.user_id = 0
        self.token = ""

    def _token(self, page: str) -> str:
        found = CSRF_INPUT.search(page)
        if found is None:
            raise BenchError("no CSRF token on the blog's page")
        return found[1]

    async def prepare(self) -> None:
        password = secrets.token_hex(8)
        token = self._token((await self.client.get("/auth/register")).text)
        form = {"username": self.username, "email": f"{self.username}@{CUSTOMER_DOMAIN}"}
        form |= {"password": password, "confirm": password, "csrf_token": token}
        expect(await self.client.post("/auth/register", data=form), 302, "register")
        with self.database.connect() as connection:
            query = sqlalchemy.text('SELECT id FROM "user" WHERE username = :name')
            self.user_id = connection.execute(query, {"name": self.username}).scalar_one()
        self.token = self._token(expect(await self.client.get("/account/"), 200, "account").text)

    def _delete_exports(self) -> None:
        with self.database.begin() as connection:
            query = sqlalchemy.text("DELETE FROM export WHERE user_id = :user")
            connection.execute(query, {"user": self.user_id})

    async def once(self) -> float:
        self._delete_exports()  # else the request shows the export in progress, publishing nothing
        request = self.client.post("/account/exports", data={"csrf_token": self.token})
        response, ms = await timed(request)
        expect(response, 302, "export request")
        return ms

    async def finish(self) -> None:
        self._delete_exports()


class ReportRequest:
    """A new reports user who asks for a report (timed); every report is cancelled after."""

    def __init__(self, client: httpx2.AsyncClient) -> None:
        self.client = client
        self.reports: list[int] = []

    async def prepare(self) -> None:
        form = {"username": f"bench-{secrets.token_hex(4)}", "password": secrets.token_hex(8)}
        await self.client.post("/register", data=form)
        expect(await self.client.get("/api/reports"), 200, "signed in")

    async def once(self) -> float:
        today = dt.datetime.now(dt.UTC).date()
        body = {
            "report_type": "sales_summary",
            "format": "csv",
            "date_from": str(today - dt.timedelta(days=30)),
            "date_to": str(today),
        }
        response, ms = await timed(self.client.post("/api/reports", json=body))
        self.reports.append(expect(response, 202, "report request").json()["id"])
        return ms

    async def finish(self) -> None:
        for report_id in self.reports:
            await self.client.post(f"/api/reports/{report_id}/cancel")


# --- the bench ---------------------------------------------------------------------


ENDPOINTS = {
    "shop": "POST /checkout/ (one item)",
    "blog": "POST /account/exports",
    "reports": "POST /api/reports",
}


def queue(app: str) -> str:
    return f"bench.enqueue.{app}"


def flow(app: str, client: httpx2.AsyncClient, product_id: int) -> Flow:
    if app == "shop":
        return ShopCheckout(client, product_id)
    if app == "blog":
        return BlogExport(client, sqlalchemy.create_engine(BlogSettings().database_uri()))
    return ReportRequest(client)


async def drive(urls: dict[str, str], app: str, product_id: int) -> dict[str, list[list[float]]]:
    """Every round's latencies (ms) of each variant's server, interleaved."""
    measured: dict[str, list[list[float]]] = {variant: [] for variant in VARIANTS}
    async with AsyncExitStack() as clients:
        flows: dict[str, Flow] = {}
        for variant, url in urls.items():
            # Origin: the reports' CSRF check wants the app's own on every POST.
            client = httpx2.AsyncClient(base_url=url, timeout=30, headers={"Origin": url})
            flows[variant] = flow(app, await clients.enter_async_context(client), product_id)
        for each in flows.values():
            await each.prepare()
            for _ in range(WARMUP):
                await each.once()
        for order in stats.rounds(VARIANTS, ROUNDS):
            for variant in order:
                measured[variant].append([await flows[variant].once() for _ in range(REQUESTS)])
        for each in flows.values():
            await each.finish()
    return measured


def published(bench: Stack, name: str) -> int:
    """How many messages wait in queue `name` (kombu keeps one list per priority step)."""
    client = bench.redis()
    keys = [key for key in client.scan_iter(match=f"{name}*") if client.type(key) == b"list"]
    return sum(int(client.llen(key)) for key in keys)


def delete_queue(bench: Stack, name: str) -> None:
    client = bench.redis()
    keys = [*client.scan_iter(match=f"{name}*"), *client.scan_iter(match=f"_kombu.binding.{name}")]
    if keys:
        client.delete(*keys)


def publish_alone(app: str) -> None:
    """(The process `python -m bench.enqueue publish APP`.) Time PUBLISHES publishes of the
    app's task, made as its endpoint makes them, with the app loaded as its server loads
    it (bench.servers, BENCH_PUBLISH=real), outside any request; print their mean CPU
    and wall milliseconds as JSON.
    """
    from bench import servers

    if app == "shop":
        servers.shop()
        from shop.tasks import send_order_confirmation

        def once() -> None:
            send_order_confirmation.delay(1)

    elif app == "blog":
        servers.blog()
        from blog.tasks import generate_user_archive

        def once() -> None:
            generate_user_archive.delay(1)

    else:
        servers.reports()
        from celery.utils import uuid

        from reports.tasks import build_report

        def once() -> None:
            build_report.apply_async((1,), task_id=uuid())

    for _ in range(WARMUP):
        once()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(PUBLISHES):
        once()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"cpu": cpu / PUBLISHES * 1000, "wall": wall / PUBLISHES * 1000}))


def time_publish_alone(app: str, bench: Stack) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.enqueue", "publish", app]
    env = bench.env(BENCH_PUBLISH="real", BENCH_QUEUE=queue(app))
    result = subprocess.run(
        command, cwd=APP_DIRS[app], env=env, capture_output=True, text=True, timeout=300
    )
    delete_queue(bench, queue(app))
    if result.returncode != 0:
        raise BenchError(f"{app}: publishing alone failed:\n{result.stderr[-2000:]}")
    times: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return times


def measure(app: str, bench: Stack, product_id: int) -> list[Figure]:
    delete_queue(bench, queue(app))
    with ExitStack() as running:
        urls = {
            variant: running.enter_context(serve(app, bench, publish=variant, queue=queue(app)))
            for variant in VARIANTS
        }
        measured = asyncio.run(drive(urls, app, product_id))
    sent = published(bench, queue(app))
    delete_queue(bench, queue(app))
    expected = WARMUP + ROUNDS * REQUESTS
    if sent != expected:
        raise BenchError(f"{app}: the real server published {sent} messages, not {expected}")
    p50 = {variant: [stats.median(one) for one in measured[variant]] for variant in VARIANTS}
    overall = {
        variant: stats.median([ms for one in measured[variant] for ms in one])
        for variant in VARIANTS
    }
    differences = [r - n for r, n in zip(p50["real"], p50["noop"], strict=True)]
    alone = time_publish_alone(app, bench)
    return [
        Figure(
            f"{app}: {ENDPOINTS[app]}, p50 added by the publish",
            stats.median(differences),
            "ms",
            target=1.0,
            comparison=f"p50 {overall['real']:.2f} ms publishing, {overall['noop']:.2f} ms "
            f"not; median of per-round p50 differences, {ROUNDS} interleaved rounds of "
            f"{REQUESTS} requests, one at a time",
            samples=tuple(differences),
        ),
        Figure(
            f"  {app}: one publish alone, as the endpoint makes it",
            alone["wall"],
            "ms",
            comparison=f"{alone['cpu']:.2f} ms of it CPU; mean of {PUBLISHES} in a loop, the "
            "app loaded as its server loads it, outside any request",
        ),
    ]


def main() -> list[Figure]:
    bench = running_stack()
    product_id = int(shop_catalogue("open", bench))
    try:
        return [figure for app in ENDPOINTS for figure in measure(app, bench, product_id)]
    finally:
        shop_catalogue("close", bench)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "publish":
        publish_alone(sys.argv[2])
    else:
        sys.exit("usage: python -m bench.enqueue publish APP (the bench runs it)")
