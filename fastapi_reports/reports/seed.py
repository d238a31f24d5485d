"""Seed the demo sales data when the table is empty: `python -m reports.seed`.

Idempotent, so `bin/migrate` runs it on every start. REPORTS_SEED_ROWS sets the size.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from reports.config import settings
from reports.db import SessionLocal
from reports.models import Sale
from shared.request_id import configure_logging

logger = logging.getLogger(__name__)

REGIONS = ("North", "South", "East", "West", "Central")
PRODUCTS = {
    "Espresso machine": Decimal("249.00"),
    "Grinder": Decimal("89.50"),
    "Kettle": Decimal("39.90"),
    "Coffee beans 1kg": Decimal("18.40"),
    "Milk frother": Decimal("24.99"),
    "Cups (set of 6)": Decimal("29.00"),
}
BATCH = 10_000
#: The sales span the three years up to the day of seeding.
DAYS = 3 * 365


def fake_sales(count: int, *, today: dt.date, seed: int = 42) -> Iterator[dict[str, object]]:
    """`count` plausible order lines, the same ones for the same seed and day."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    products = list(PRODUCTS.items())
    for _ in range(count):
        product, price = rng.choice(products)
        quantity = rng.randint(1, 5)
        yield {
            "sold_on": today - dt.timedelta(days=rng.randrange(DAYS)),
            "region": rng.choice(REGIONS),
            "product": product,
            "quantity": quantity,
            "amount": price * quantity,
        }


def seed_sales(session: Session, count: int, *, today: dt.date) -> int:
    """Insert `count` sales unless there are some already; returns how many were inserted."""
    if session.scalar(select(func.count()).select_from(Sale)):
        return 0
    rows = fake_sales(count, today=today)
    # Batches keep memory flat however many rows REPORTS_SEED_ROWS asks for.
    while batch := list(islice(rows, BATCH)):
        session.execute(insert(Sale), batch)
    session.commit()
    return count


def main() -> None:
    configure_logging(settings.log_level)
    with SessionLocal() as session:
        today = dt.datetime.now(dt.UTC).date()
        inserted = seed_sales(session, settings.reports_seed_rows, today=today)
    if inserted:
        logger.info("seeded %d sales", inserted)
    else:
        logger.info("the sales table already has data: nothing seeded")


if __name__ == "__main__":
    main()
