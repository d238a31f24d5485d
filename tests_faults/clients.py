"""HTTP clients of the three apps, as a customer, a blogger and a reports user see them,
and the stack's own stores read directly (the mail catcher, the SQLite databases).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Self

import httpx2
import stack
from stack import StackSettings

ROOT = Path(__file__).resolve().parents[1]


class Client:
    """An HTTP client of one app, with its own cookies; closed by `with`."""

    def __init__(self, base_url: str, **options: Any) -> None:
        self.base_url = base_url
        self.client = httpx2.Client(base_url=base_url, timeout=60, **options)

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

    def buy(self, product_id: int, *, email: str, quantity: int = 1) -> httpx2.Response:
        """Add the product to the cart and check out; the checkout's response."""
        if "csrftoken" not in self.client.cookies:
            self.client.get("/checkout/")  # its form sets the CSRF cookie
        token = {"csrfmiddlewaretoken": self.client.cookies["csrftoken"]}
        self.client.post(f"/cart/add/{product_id}/", data={"quantity": quantity, **token})
        return self.client.post("/checkout/", data={"name": "Fault Test", "email": email, **token})


def order_number(checkout: httpx2.Response) -> str:
    """The number of the order a successful checkout redirected to."""
    assert checkout.status_code == 302, checkout.text[:500]
    return checkout.headers["location"].rstrip("/").rpartition("/")[2]


class Blogger(Client):
    """A newly registered, signed-in user of the blog."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.username = f"faults-{secrets.token_hex(4)}"
        password = secrets.token_hex(8)
        form = {
            "username": self.username,
            "email": f"{self.username}@example.com",
            "password": password,
            "confirm": password,
        }
        registered = self.post_form("/auth/register", form)
        assert registered.status_code == 302, registered.text[:500]  # signed in, to the home page

    def csrf_token(self, page: str) -> str:
        found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
        assert found, "no CSRF token on the page"
        return found[1]

    def post_form(
        self, path: str, form: dict[str, str], *, form_page: str | None = None
    ) -> httpx2.Response:
        """POST `form` to `path` with the CSRF token of `form_page` (default: `path`)."""
        token = self.csrf_token(self.client.get(form_page or path).text)
        return self.client.post(path, data={**form, "csrf_token": token})

    def request_export(self) -> httpx2.Response:
        return self.post_form("/account/exports", {}, form_page="/account/")

    def export(self, export_id: int) -> dict[str, Any]:
        """The export's status, as its page polls it."""
        response = self.client.get(f"/account/exports/{export_id}/status")
        body: dict[str, Any] = response.raise_for_status().json()
        return body


def export_id(requested: httpx2.Response) -> int:
    """The id of the export a request redirected to."""
    assert requested.status_code == 302, requested.text[:500]
    return int(requested.headers["location"].rstrip("/").rpartition("/")[2])


class ReportsUser(Client):
    """A signed-in user of the reports app."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, headers={"Origin": base_url})
        form = {"username": f"faults-{secrets.token_hex(4)}", "password": secrets.token_hex(8)}
        self.client.post("/register", data=form)

    def request_report(
        self, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> httpx2.Response:
        today = dt.datetime.now(dt.UTC).date()
        body = {
            "report_type": "sales_summary",
            "format": "csv",
            "date_from": str(date_from or today - dt.timedelta(days=30)),
            "date_to": str(date_to or today),
        }
        return self.client.post("/api/reports", json=body)

    def report(self, report_id: int) -> dict[str, Any]:
        body: dict[str, Any] = (
            self.client.get(f"/api/reports/{report_id}").raise_for_status().json()
        )
        return body


def mail_counts(config: StackSettings, needles: Iterable[str]) -> dict[str, int]:
    """How many messages in the mail catcher have each of `needles` in their subject."""
    counts = {}
    with httpx2.Client(base_url=config.mail_url) as client:
        for needle in needles:
            query: dict[str, str | int] = {"query": f'subject:"{needle}"', "limit": 1}
            found = client.get("/api/v1/search", params=query).raise_for_status().json()
            counts[needle] = int(found["messages_count"])
    return counts


def mail_count(config: StackSettings, needle: str) -> int:
    """How many messages in the mail catcher have `needle` in their subject."""
    return mail_counts(config, [needle])[needle]


def timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - started


def manage(var: Path, code: str) -> str:
    """Run `code` in the shop's Django shell, against the stack's database."""
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", code]
    env = stack.native_env(stack.settings(), var, run_redis=False)
    result = subprocess.run(
        command, cwd=ROOT / "django_shop", env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def new_product(var: Path, *, stock: int) -> tuple[int, str]:
    """A new product of the shop with `stock` units; its id and slug."""
    slug = f"fault-{secrets.token_hex(3)}"
    created = manage(
        var,
        "from shop.models import Product; "
        f"print(Product.objects.create(name='{slug}', slug='{slug}', description='-', "
        f"price='1.00', stock={stock}).pk)",
    )
    return int(created), slug


SWEEP = "Resend unsent order confirmations"


@contextmanager
def sweep_every(var: Path, seconds: int) -> Iterator[None]:
    """The shop's sweep runs every `seconds` in the block, as an admin could set it.

    Beat (django-celery-beat's DatabaseScheduler) sees the change within its
    5 s loop, as it sees an edit in the admin. The schedule is put back after.
    """
    set_interval = (
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask; "
        f"task = PeriodicTask.objects.get(name={SWEEP!r}); "
        "old = task.interval_id; "
        "task.interval, _ = IntervalSchedule.objects.get_or_create("
        "every={every}, period={period!r}); task.save(); print(old)"
    )
    manage(var, set_interval.format(every=seconds, period="seconds"))
    try:
        yield
    finally:
        manage(var, set_interval.format(every=5, period="minutes"))


def query(database: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql` in one of the stack's SQLite databases (the app's own commits are seen)."""
    with closing(sqlite3.connect(database, timeout=30)) as connection:
        return connection.execute(sql, params).fetchall()
