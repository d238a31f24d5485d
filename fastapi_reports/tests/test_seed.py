"""Demo data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reports.models import Sale
from reports.seed import DAYS, REGIONS, fake_sales, seed_sales


def test_seeding_is_idempotent(session: Session) -> None:
    before = session.scalar(select(func.count()).select_from(Sale))
    assert before
    assert seed_sales(session, 50, today=dt.date(2025, 1, 1)) == 0
    assert session.scalar(select(func.count()).select_from(Sale)) == before


def test_fake_sales_are_plausible_and_repeatable() -> None:
    today = dt.date(2025, 6, 30)
    rows = list(fake_sales(500, today=today))
    assert rows == list(fake_sales(500, today=today))
    assert {row["region"] for row in rows} == set(REGIONS)
    assert all(today - dt.timedelta(days=DAYS) < row["sold_on"] <= today for row in rows)  # type: ignore[operator]
