"""Reading sales in chunks and summing them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reports.models import Sale
from reports.sales import Summary, count_sales, iter_sale_chunks, period_of
from reports.schemas import Period

TODAY = dt.datetime.now(dt.UTC).date()
YEAR_AGO = TODAY - dt.timedelta(days=365)


def test_period_labels() -> None:
    day = dt.date(2025, 3, 14)
    assert period_of(day, Period.DAY) == "2025-03-14"
    assert period_of(day, Period.WEEK) == "2025-W11"
    assert period_of(day, Period.MONTH) == "2025-03"
    # ISO weeks belong to the ISO year: 2024-12-30 is in week 1 of 2025.
    assert period_of(dt.date(2024, 12, 30), Period.WEEK) == "2025-W01"


def test_chunks_cover_the_range_once_and_are_bounded(session: Session) -> None:
    chunks = list(iter_sale_chunks(session, YEAR_AGO, TODAY, chunk_size=37))
    ids = [row.id for chunk in chunks for row in chunk]
    assert all(len(chunk) <= 37 for chunk in chunks)
    assert len(ids) == len(set(ids)) == count_sales(session, YEAR_AGO, TODAY) > 37
    assert all(YEAR_AGO <= row.sold_on <= TODAY for chunk in chunks for row in chunk)


def test_summary_totals_match_the_database(session: Session) -> None:
    summary = Summary(Period.MONTH)
    for chunk in iter_sale_chunks(session, YEAR_AGO, TODAY, chunk_size=500):
        summary.add(chunk)
    in_range = Sale.sold_on.between(YEAR_AGO, TODAY)
    quantity, amount = session.execute(
        select(func.sum(Sale.quantity), func.sum(Sale.amount)).where(in_range)
    ).one()
    rows = summary.rows()
    assert sum(row[2] for row in rows) == summary.source_rows
    assert sum(row[3] for row in rows) == quantity
    assert sum((row[4] for row in rows), Decimal(0)) == amount
    assert rows == sorted(rows)
    # Twelve or thirteen months, by five regions at most.
    assert len({row[0] for row in rows}) in (12, 13)
    assert len(rows) <= 13 * 5
