"""The apps' web processes as the enqueue and confirmation benchmarks serve them.

Each factory returns the app's own WSGI or ASGI object, the one its bin/web serves,
with the publish of the one task its endpoint sends changed by the environment:

    BENCH_PUBLISH=real   the task is published as the app publishes it, only routed to
                         BENCH_QUEUE (one entry of `task_routes`), a queue of the bench's
                         own, so that the stack's workers never see it;
    BENCH_PUBLISH=noop   the task's `apply_async` publishes nothing (`delay` calls it);
    BENCH_COMMIT_LOG     (the shop) a JSON line per order, with the time its
                         transaction committed: see `log_commits`.

    gunicorn 'bench.servers:shop()'    gunicorn 'bench.servers:blog()'
    uvicorn --factory bench.servers:reports

`python -m bench.servers catalogue open|close` opens the shop's bench product for
sale (and restocks it), or takes it off sale and cancels the bench's unconfirmed
orders, so that the sweep never sends them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

#: The shop's product the benchmarks buy, and the customers' domain: bench orders only.
PRODUCT_SLUG = "bench-widget"
CUSTOMER_DOMAIN = "bench.example.com"


def shop() -> Any:
    """The shop's WSGI app (config.wsgi), its confirmation's publish as BENCH_PUBLISH says."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    from config.wsgi import application
    from shop.tasks import send_order_confirmation

    divert(send_order_confirmation)
    if log := os.environ.get("BENCH_COMMIT_LOG"):
        log_commits(Path(log))
    return application


def blog() -> Any:
    """The blog's WSGI app (create_app), its export's publish as BENCH_PUBLISH says."""
    from blog import create_app
    from blog.tasks import generate_user_archive

    app = create_app()
    divert(generate_user_archive)
    return app


def reports() -> Any:
    """The reports' ASGI app (reports.main), its build's publish as BENCH_PUBLISH says."""
    from reports.main import app
    from reports.tasks import build_report

    divert(build_report)
    return app


def divert(task: Any) -> None:
    """Make `task`'s publish what BENCH_PUBLISH says, before the first request."""
    publish = os.environ.get("BENCH_PUBLISH")
    if publish == "real":
        # Read when the app first publishes: nothing has been published yet.
        task.app.conf.task_routes = {task.name: {"queue": os.environ["BENCH_QUEUE"]}}
    elif publish == "noop":
        # An attribute of the task object shadows its method; `delay` calls this too.
        task.apply_async = publish_nothing
    else:
        raise RuntimeError(f"BENCH_PUBLISH is {publish!r}: real or noop")


def publish_nothing(*args: Any, **kwargs: Any) -> None:
    """`apply_async` that publishes nothing. The endpoints ignore what it returns."""


def log_commits(path: Path) -> None:
    """Write a line per order, `{"order", "number", "committed"}`, as its transaction commits.

    `committed` is time.time() as the order's on_commit callback starts: Django runs
    it as soon as COMMIT has returned, and it is the callback that publishes the
    confirmation (shop.checkout.schedule_confirmation). The line is written after the
    publish, so the file is not on the path being timed. The order's number comes
    from a post_save handler: no query is added to the checkout.
    """
    from django.db.models.signals import post_save

    import shop.checkout as checkout  # the module: its callback is replaced below
    from shop.models import Order

    numbers: dict[int, str] = {}

    def remember(sender: type[Order], instance: Order, created: bool, **_: Any) -> None:
        if created:
            numbers[instance.pk] = instance.number

    post_save.connect(remember, sender=Order, weak=False)
    schedule = checkout.schedule_confirmation
    out = path.open("a", buffering=1)

    def timed(order_id: int) -> None:
        committed = time.time()
        schedule(order_id)
        line = {"order": order_id, "number": numbers.pop(order_id, None), "committed": committed}
        out.write(json.dumps(line) + "\n")

    # place_order looks the callback up by name when it registers it.
    checkout.schedule_confirmation = timed


def catalogue(action: str) -> None:
    """`open`: the bench product on sale with stock to spare (its id printed); `close`: off
    sale, and every unconfirmed bench order cancelled (the sweep skips cancelled orders).
    """
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    django.setup()
    from shop.models import Order, Product

    if action == "open":
        product, _ = Product.objects.update_or_create(
            slug=PRODUCT_SLUG,
            defaults={
                "name": "Bench Widget",
                "description": "Bought by `make bench` only.",
                "price": "1.00",
                "stock": 10**9,
                "active": True,
            },
        )
        print(product.pk)
    elif action == "close":
        Product.objects.filter(slug=PRODUCT_SLUG).update(active=False)
        Order.objects.filter(
            customer_email__endswith=f"@{CUSTOMER_DOMAIN}", confirmation_sent_at__isnull=True
        ).update(status=Order.Status.CANCELLED)
    else:
        raise SystemExit(f"catalogue open|close, not {action!r}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "catalogue":
        catalogue(sys.argv[2])
    else:
        sys.exit("usage: python -m bench.servers catalogue open|close")
