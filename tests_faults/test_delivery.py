"""Faults on the request path and in delivery, injected into the running native stack.

A request never hangs on the broker: with Redis stopped, or silent (it accepts
connections and answers nothing), a checkout still places its order and a
report request gets a clear 503, within seconds. Mail that cannot be delivered
is delivered once the mail server is back, exactly once per order. Stock is
never oversold, whatever the concurrency. A pickled message runs nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
import redis
import stack
from conftest import ROOT, wait_for
from kombu import Connection, Exchange, Producer

from shared.settings import SharedSettings

# A request must answer within this, whatever the broker does (the socket
# timeout is 3 s, one retry), with room for a loaded CI machine.
REQUEST_SECONDS = 10.0


# --- clients of the three apps -------------------------------------------------------


class Client:
    """An HTTP client of one app, with its own cookies; closed by `with`."""

    def __init__(self, base_url: str, **options: Any) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=60, **options)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


class Shopper(Client):
    """One customer of the shop, with their own session and cart."""

    def products(self) -> list[int]:
        """The ids of the products on the catalogue page."""
        page = self.client.get("/").raise_for_status().text
        slugs = re.findall(r'href="/products/([\w-]+)/"', page)
        ids = []
        for slug in dict.fromkeys(slugs):
            detail = self.client.get(f"/products/{slug}/").text
            ids += [int(i) for i in re.findall(r"/cart/add/(\d+)/", detail)][:1]
        return ids

    def buy(self, product_id: int, *, email: str, quantity: int = 1) -> httpx.Response:
        """Add the product to the cart and check out; the checkout's response."""
        token = {"csrfmiddlewaretoken": self.client.cookies["csrftoken"]}
        self.client.post(f"/cart/add/{product_id}/", data={"quantity": quantity, **token})
        return self.client.post("/checkout/", data={"name": "Fault Test", "email": email, **token})


def order_number(checkout: httpx.Response) -> str:
    """The number of the order a successful checkout redirected to."""
    assert checkout.status_code == 302, checkout.text[:500]
    return checkout.headers["location"].rstrip("/").rpartition("/")[2]


class ReportsUser(Client):
    """A signed-in user of the reports app."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, headers={"Origin": base_url})
        form = {"username": f"faults-{secrets.token_hex(4)}", "password": secrets.token_hex(8)}
        self.client.post("/register", data=form)

    def request_report(self) -> httpx.Response:
        today = dt.date.today()
        body = {
            "report_type": "sales_summary",
            "format": "csv",
            "date_from": str(today - dt.timedelta(days=30)),
            "date_to": str(today),
        }
        return self.client.post("/api/reports", json=body)


@pytest.fixture
def shopper(config: SharedSettings) -> Iterator[Shopper]:
    with Shopper(config.shop_url) as customer:
        yield customer


@pytest.fixture
def reports_user(config: SharedSettings) -> Iterator[ReportsUser]:
    with ReportsUser(config.reports_url) as user:
        yield user


def mail_count(config: SharedSettings, needle: str) -> int:
    """How many messages in the mail catcher have `needle` in their subject."""
    with httpx.Client() as client:
        messages = client.get(f"{config.mail_url}/api/v1/messages", params={"limit": 10000}).json()
    return sum(needle in message["Subject"] for message in messages["messages"])


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - started


# --- broker faults -------------------------------------------------------------------


def redis_client(config: SharedSettings) -> redis.Redis:
    return redis.Redis.from_url(config.celery_broker_url, socket_timeout=5)


@contextmanager
def stopped(service: str, var: Path) -> Iterator[None]:
    """`service` is stopped (supervisorctl stop: SIGTERM, as a deploy does) in the block."""
    stack.supervisorctl(var, "stop", service, timeout=60)
    try:
        yield
    finally:
        stack.supervisorctl(var, "start", service, timeout=60)


@contextmanager
def redis_stopped(var: Path) -> Iterator[None]:
    stack.supervisorctl(var, "stop", "redis", timeout=30)
    try:
        yield
    finally:
        stack.supervisorctl(var, "start", "redis", timeout=30)


@contextmanager
def redis_silent(config: SharedSettings, seconds: int) -> Iterator[None]:
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


@pytest.mark.parametrize("fault", ["stopped", "silent"])
def test_a_broker_fault_never_hangs_a_request(
    fault: str, config: SharedSettings, var: Path, shopper: Shopper, reports_user: ReportsUser
) -> None:
    product = shopper.products()[0]
    email = f"broker-{fault}-{secrets.token_hex(3)}@example.com"
    outage = redis_stopped(var) if fault == "stopped" else redis_silent(config, 15)

    with outage:
        checkout, checkout_seconds = timed(shopper.buy, product, email=email)
        report, report_seconds = timed(reports_user.request_report)
        home, _ = timed(shopper.client.get, "/", timeout=REQUEST_SECONDS)

    # The order stands (the sweep sends its email later); the report says why not.
    number = order_number(checkout)
    assert checkout_seconds < REQUEST_SECONDS
    assert report.status_code == 503, report.text
    assert "unavailable" in report.json()["detail"]
    assert report_seconds < REQUEST_SECONDS
    assert home.status_code == 200
    assert shopper.client.get(f"/orders/{number}/").status_code == 200


def test_queued_work_survives_a_redis_restart_and_runs_once(
    config: SharedSettings, var: Path, shopper: Shopper
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


def test_mail_down_delays_confirmations_never_checkouts_and_sends_each_once(
    config: SharedSettings, var: Path, shopper: Shopper
) -> None:
    product = shopper.products()[2]
    stack.supervisorctl(var, "stop", "mail", timeout=30)
    try:
        numbers, seconds = [], []
        for n in range(5):
            checkout, took = timed(shopper.buy, product, email=f"nomail-{n}@example.com")
            numbers.append(order_number(checkout))
            seconds.append(took)
        time.sleep(6)  # the first attempts fail and wait for their retry
    finally:
        stack.supervisorctl(var, "start", "mail", timeout=30)

    assert max(seconds) < 2.0, seconds
    for number in numbers:
        wait_for(f"the email of {number}", partial(mail_count, config, number), timeout=120)
    time.sleep(3)
    assert {number: mail_count(config, number) for number in numbers} == dict.fromkeys(numbers, 1)


# --- concurrency ---------------------------------------------------------------------


def manage(var: Path, code: str) -> str:
    """Run `code` in the shop's Django shell, against the stack's database."""
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", code]
    env = stack.native_env(stack.settings(), var, run_redis=False)
    result = subprocess.run(
        command, cwd=ROOT / "django_shop", env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_concurrent_checkouts_never_oversell(config: SharedSettings, var: Path) -> None:
    """200 customers at once for a product with 40 in stock: 40 orders, no 5xx."""
    slug = f"fault-stock-{secrets.token_hex(3)}"
    product_id = int(
        manage(
            var,
            "from shop.models import Product; "
            f"print(Product.objects.create(name='{slug}', slug='{slug}', description='-', "
            "price='1.00', stock=40).pk)",
        )
    )

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
    queue: str, config: SharedSettings, var: Path, tmp_path: Path
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


def pool_processes(service: str, var: Path) -> list[int]:
    """The worker's pool processes: the children of its main process."""
    main = stack.service_pid(service, var)
    children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    return [int(pid) for pid in children]


def test_a_sender_killed_while_the_mail_server_hangs_is_followed_by_exactly_one_email(
    config: SharedSettings, var: Path, shopper: Shopper
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
    config: SharedSettings, var: Path, shopper: Shopper
) -> None:
    email = f"locked-{secrets.token_hex(3)}@example.com"
    log = var / "log" / "shop-worker.log"
    locked = "database is locked"
    before = log.read_text().count(locked)
    with stopped("shop-worker", var):
        number = order_number(shopper.buy(shopper.products()[4], email=email))
    # The worker starts and finds the database locked for longer than its
    # 20 s busy timeout: the claim fails with OperationalError and is retried.
    database = sqlite3.connect(var / "shop.sqlite3", isolation_level=None)
    try:
        database.execute("BEGIN EXCLUSIVE")
        wait_for("the worker", partial(stack.service_pid, "shop-worker", var), timeout=30)
        wait_for("a retry", lambda: log.read_text().count(locked) > before, timeout=60)
    finally:
        database.rollback()
        database.close()

    wait_for(f"the confirmation of {number}", partial(mail_count, config, number), timeout=150)
    time.sleep(2)
    assert mail_count(config, number) == 1
