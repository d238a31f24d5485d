"""Faults on the request path and in delivery, injected into the running native stack.

A request never hangs on the broker: with Redis stopped, or silent (it accepts
connections and answers nothing), a checkout still places its order and a
report request gets a clear 503, within seconds. Mail that cannot be delivered
is delivered once the mail server is back, exactly once per order. Stock is
never oversold, whatever the concurrency. A pickled message runs nothing.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
import stack
from celery import Celery
from clients import (
    Blogger,
    ReportsUser,
    Shopper,
    export_id,
    mail_count,
    mail_counts,
    manage,
    new_product,
    order_number,
    sweep_every,
    timed,
)
from conftest import frozen, stopped, wait_for
from kombu import Connection, Exchange, Producer
from stack import StackSettings

# A request must answer within this, whatever the broker does (the socket
# timeout is 3 s, one retry), with room for a loaded CI machine.
REQUEST_SECONDS = 10.0
#: What a customer under load asks for.
KINDS = ("page", "checkout", "export", "report")


# --- broker faults -------------------------------------------------------------------


def redis_client(config: StackSettings) -> redis.Redis:
    return redis.Redis.from_url(config.celery_broker_url, socket_timeout=5)


@contextmanager
def redis_silent(config: StackSettings, seconds: int) -> Iterator[None]:
    """Redis accepts connections and answers nothing for `seconds` (CLIENT PAUSE ALL).

    The pause holds every client, the one that asked for it too, so the block
    ends by waiting it out.
    """
    with redis_client(config) as client:
        client.execute_command("CLIENT", "PAUSE", seconds * 1000, "ALL")
    ends = time.monotonic() + seconds
    try:
        yield
    finally:
        time.sleep(max(0.0, ends - time.monotonic()))


@dataclass
class Answer:
    """One request of a customer under load, as it was answered."""

    what: str  # page, checkout, export or report
    status: int | None  # None: no answer within REQUEST_SECONDS
    seconds: float
    made: str | int | None = None  # the order number, export id or report id it created
    body: str = ""


class Customer:
    """A customer of all three apps at once, signed in to each, recording every answer."""

    def __init__(self, config: StackSettings, product_id: int) -> None:
        self.shop = Shopper(config.shop_url)
        self.blog = Blogger(config.blog_url)
        self.reports = ReportsUser(config.reports_url)
        self.product_id = product_id
        self.answers: list[Answer] = []

    def close(self) -> None:
        for client in (self.shop, self.blog, self.reports):
            client.client.close()

    def ask(self, what: str, call: Callable[[], httpx2.Response]) -> httpx2.Response | None:
        started = time.monotonic()
        try:
            response = call()
        except httpx2.TimeoutException:
            self.answers.append(Answer(what, None, time.monotonic() - started))
            return None
        answer = Answer(what, response.status_code, time.monotonic() - started)
        answer.body = response.text[:300]
        self.answers.append(answer)
        return response

    def one_round(self, n: int) -> None:
        """Every page, a checkout and a report request; an export request the first time."""
        for client in (self.shop.client, self.blog.client, self.reports.client):
            self.ask("page", partial(client.get, "/", timeout=REQUEST_SECONDS * 2))
        email = f"load-{secrets.token_hex(3)}-{n}@example.com"
        checkout = self.ask("checkout", partial(self.shop.buy, self.product_id, email=email))
        if checkout is not None and checkout.status_code == 302:
            self.answers[-1].made = order_number(checkout)
        report = self.ask("report", self.reports.request_report)
        if report is not None and report.status_code == 202:
            self.answers[-1].made = report.json()["id"]
        if n == 0:
            export = self.ask("export", self.blog.request_export)
            if export is not None and export.status_code == 302:
                self.answers[-1].made = export_id(export)

    def keep_asking(self, stop: threading.Event) -> None:
        n = 0
        while not stop.is_set():
            self.one_round(n)
            n += 1
            stop.wait(0.3)

    def made(self, what: str) -> list[Any]:
        return [answer.made for answer in self.answers if answer.what == what and answer.made]

    def outcomes(self) -> list[str]:
        """Where each report and export this customer asked for stands now."""
        found = [self.reports.report(report)["status"] for report in self.made("report")]
        for export in self.made("export"):
            state = self.blog.export(export)
            found.append(state["error"] or state["status"])
        return found


def pinged_through_flower(config: StackSettings) -> Callable[[], bool]:
    """A predicate: Flower has seen a ping sent now succeed, on each app's queue.

    Flower learns of tasks from the workers' events, so this holds only once the
    workers and Flower have both reconnected to Redis.
    """
    app = Celery("faults", broker=config.celery_broker_url)
    sent = [app.send_task(PING[queue], queue=queue).id for queue in PING]
    app.close()
    auth = config.flower_credentials()

    def seen() -> bool:
        with httpx2.Client(base_url=config.flower_url, auth=auth, timeout=5) as flower:
            states = [flower.get(f"/api/task/info/{task_id}") for task_id in sent]
        return all(r.status_code == 200 and r.json().get("state") == "SUCCESS" for r in states)

    return seen


@pytest.mark.parametrize("fault", ["stopped", "silent"])
def test_a_broker_fault_under_load_never_hangs_a_request_and_loses_nothing(
    fault: str, config: StackSettings, var: Path
) -> None:
    """Customers of all three apps keep asking while Redis is stopped, or silent.

    Every request answers within seconds: pages as usual, checkouts place their
    order, report requests say 503 "unavailable", export requests show why on the
    page. Once Redis is back, each order's email arrives exactly once (the sweep
    sends what could not be published), each accepted report and export
    completes, and the workers and Flower have reconnected by themselves.
    """
    product_id, _ = new_product(var, stock=100_000)
    customers = [Customer(config, product_id) for _ in range(4)]
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(len(customers)) as pool:
            outage = stopped("redis", var) if fault == "stopped" else redis_silent(config, 15)
            with outage:
                asking = [pool.submit(customer.keep_asking, stop) for customer in customers]
                time.sleep(10)
                stop.set()
                for future in asking:
                    future.result()
        answers = [answer for customer in customers for answer in customer.answers]

        assert [a for a in answers if a.status is None or a.seconds >= REQUEST_SECONDS] == []
        by_kind = {what: Counter(a.status for a in answers if a.what == what) for what in KINDS}
        assert set(by_kind["page"]) == {200}, by_kind
        assert set(by_kind["checkout"]) == {302}, by_kind  # every order placed
        assert set(by_kind["export"]) == {302}, by_kind  # to its page, which says why
        assert set(by_kind["report"]) <= {202, 503}, by_kind
        assert by_kind["report"][503], by_kind  # the outage was real
        unavailable = {a.body for a in answers if a.what == "report" and a.status == 503}
        assert all("unavailable" in body for body in unavailable), unavailable

        orders = [number for customer in customers for number in customer.made("checkout")]
        with sweep_every(var, seconds=5):
            emailed = lambda: all(mail_counts(config, orders).values())  # noqa: E731
            wait_for("every order's email", emailed, timeout=120)
        wait_for("the workers and Flower back", pinged_through_flower(config), timeout=60)

        def settled() -> bool:
            outcomes = [outcome for customer in customers for outcome in customer.outcomes()]
            return not {"pending", "running"} & set(outcomes)

        wait_for("every report and export finished", settled, timeout=90)
        outcomes = Counter(outcome for customer in customers for outcome in customer.outcomes())
        assert set(outcomes) <= {"done", "ready", "The export could not be queued."}, outcomes
        time.sleep(3)
        assert mail_counts(config, orders) == dict.fromkeys(orders, 1)
    finally:
        for customer in customers:
            customer.close()


def test_an_order_placed_while_the_broker_is_down_is_confirmed_by_the_sweep(
    config: StackSettings, var: Path, shopper: Shopper
) -> None:
    email = f"sweep-{secrets.token_hex(3)}@example.com"
    with stopped("redis", var):
        checkout, seconds = timed(shopper.buy, shopper.products()[6], email=email)
    number = order_number(checkout)  # placed, with no task published
    assert seconds < REQUEST_SECONDS

    with sweep_every(var, seconds=5):
        wait_for(f"the confirmation of {number}", partial(mail_count, config, number), timeout=60)
    time.sleep(3)
    assert mail_count(config, number) == 1


def test_queued_work_survives_a_redis_restart_and_runs_once(
    config: StackSettings, var: Path, shopper: Shopper
) -> None:
    email = f"queued-{secrets.token_hex(3)}@example.com"
    with stopped("shop-worker", var):
        number = order_number(shopper.buy(shopper.products()[1], email=email))
        with stopped("redis", var):
            pass  # the queued confirmation is only in Redis's append-only file now

    wait_for(f"the confirmation of {number}", lambda: mail_count(config, number), timeout=60)
    time.sleep(2)
    assert mail_count(config, number) == 1


# --- mail faults ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["refusing", "hung"])
def test_mail_down_delays_confirmations_never_checkouts_and_sends_each_once(
    fault: str, config: StackSettings, var: Path, shopper: Shopper
) -> None:
    """The mail server refuses connections, or hangs (accepts them, answers nothing).

    Checkouts answer as fast as usual meanwhile; each confirmation's task waits
    for its retry (a hung server: after SMTP_TIMEOUT), and once the server is
    back, every confirmation arrives exactly once.
    """
    product = shopper.products()[2]
    outage = stopped("mail", var) if fault == "refusing" else frozen("mail", var)
    with outage:
        numbers, seconds = [], []
        for n in range(5):
            email = f"nomail-{fault}-{n}@example.com"
            checkout, took = timed(shopper.buy, product, email=email)
            numbers.append(order_number(checkout))
            seconds.append(took)
        time.sleep(12)  # the first attempts fail (a hung server: at SMTP_TIMEOUT) and wait

    assert max(seconds) < 2.0, seconds
    for number in numbers:
        wait_for(f"the email of {number}", partial(mail_count, config, number), timeout=150)
    time.sleep(3)
    assert mail_counts(config, numbers) == dict.fromkeys(numbers, 1)


# --- concurrency ---------------------------------------------------------------------


def test_concurrent_checkouts_never_oversell(config: StackSettings, var: Path) -> None:
    """200 customers at once for a product with 40 in stock: 40 orders, no 5xx."""
    product_id, slug = new_product(var, stock=40)

    def customer(n: int) -> tuple[int | str, str | None]:
        with Shopper(config.shop_url) as customer:
            page = customer.client.get(f"/products/{slug}/")  # its form sets the CSRF cookie
            if "csrftoken" not in customer.client.cookies:
                return ("sold out" if page.status_code == 200 else page.status_code), None
            response = customer.buy(product_id, email=f"rush-{n}@example.com")
        if response.status_code != 302:
            return response.status_code, None
        return response.status_code, order_number(response)

    with ThreadPoolExecutor(max_workers=40) as pool:
        outcomes = list(pool.map(customer, range(200)))

    statuses = Counter(status for status, _ in outcomes)
    numbers = [number for _, number in outcomes if number]
    assert not [s for s in statuses if isinstance(s, int) and s >= 500], statuses
    assert len(numbers) == 40, statuses
    stock = f"from shop.models import Product; print(Product.objects.get(pk={product_id}).stock)"
    assert manage(var, stock) == "0"
    for number in numbers:
        wait_for(f"the email of {number}", partial(mail_count, config, number), timeout=120)
    assert all(mail_count(config, number) == 1 for number in numbers)


# --- hostile messages ----------------------------------------------------------------


class Exploit:
    """A pickle that, if ever loaded, creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (subprocess.getoutput, (f"touch {self.marker}",))


#: A task each worker has registered, so the message gets as far as its body.
PING = {"shop": "shop.tasks.ping", "blog": "blog.tasks.ping", "reports": "reports.ping"}


@pytest.mark.parametrize("queue", list(PING))
def test_a_pickled_message_is_refused_and_runs_nothing(
    queue: str, config: StackSettings, var: Path, tmp_path: Path
) -> None:
    marker = tmp_path / f"pickle-ran-on-{queue}"
    task_id = secrets.token_hex(8)
    log = var / "log" / f"{queue}-worker.log"
    refused = "Refusing to deserialize untrusted content of type pickle"
    before = log.read_text().count(refused)
    with Connection(config.celery_broker_url) as connection:
        producer = Producer(connection, exchange=Exchange(queue, type="direct"))
        producer.publish(
            [[Exploit(marker)], {}, {}],
            routing_key=queue,
            serializer="pickle",
            headers={"task": PING[queue], "id": task_id, "lang": "py"},
        )
    wait_for("the worker refusing it", lambda: log.read_text().count(refused) > before, timeout=30)
    time.sleep(1)
    assert not marker.exists()
    with redis_client(config) as client:
        assert task_id.encode() not in b"".join(client.lrange(queue, 0, -1))


# --- a hung mail server, a killed sender, a locked database --------------------------


def pool_processes(service: str, var: Path) -> list[int]:
    """The worker's pool processes: the children of its main process."""
    main = stack.service_pid(service, var)
    children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    return [int(pid) for pid in children]


def test_a_sender_killed_while_the_mail_server_hangs_is_followed_by_exactly_one_email(
    config: StackSettings, var: Path, shopper: Shopper
) -> None:
    """The mail server hangs; the process sending to it is killed mid-send (SIGKILL).

    Checkouts stay fast meanwhile. The killed run's message is redelivered at
    once (reject_on_worker_lost); its lease makes the new run wait until it ends,
    then send. One email.
    """
    email = f"hung-{secrets.token_hex(3)}@example.com"
    product = shopper.products()[3]
    with frozen("mail", var):
        checkout, seconds = timed(shopper.buy, product, email=email)
        number = order_number(checkout)
        time.sleep(2)  # the confirmation task is now waiting for the SMTP greeting
        for pid in pool_processes("shop-worker", var):
            os.kill(pid, signal.SIGKILL)
        time.sleep(3)
    assert seconds < 2.0

    wait_for(f"the confirmation of {number}", partial(mail_count, config, number), timeout=150)
    time.sleep(3)
    assert mail_count(config, number) == 1


def test_a_task_retries_while_the_database_is_locked_then_succeeds(
    config: StackSettings, var: Path, shopper: Shopper
) -> None:
    email = f"locked-{secrets.token_hex(3)}@example.com"
    log = var / "log" / "shop-worker.log"
    locked = "database is locked"
    before = log.read_text().count(locked)
    database = sqlite3.connect(var / "shop.sqlite3", isolation_level=None)
    try:
        with stopped("shop-worker", var):
            number = order_number(shopper.buy(shopper.products()[4], email=email))
            # Locked before the worker starts, for longer than its 20 s busy
            # timeout: the claim fails with OperationalError and is retried.
            database.execute("BEGIN EXCLUSIVE")
        wait_for("a retry", lambda: log.read_text().count(locked) > before, timeout=60)
    finally:
        database.rollback()
        database.close()

    wait_for(f"the confirmation of {number}", partial(mail_count, config, number), timeout=150)
    time.sleep(2)
    assert mail_count(config, number) == 1
