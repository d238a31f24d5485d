"""Reading the sales table in chunks and summing it by period and region."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Row, func, select, tuple_
from sqlalchemy.orm import Session

from reports.models import Sale
from reports.schemas import Period

HEADER = ("period", "region", "orders", "quantity", "amount")
SaleRow = Row[int, dt.date, str, int, Decimal]


def count_sales(session: Session, date_from: dt.date, date_to: dt.date) -> int:
    query = select(func.count()).select_from(Sale).where(Sale.sold_on.between(date_from, date_to))
    return session.scalar(query) or 0


def iter_sale_chunks(
    session: Session, date_from: dt.date, date_to: dt.date, *, chunk_size: int
) -> Iterator[Sequence[SaleRow]]:
    """Yield the sales in the range, `chunk_size` rows at a time.

    Keyset pagination on the (sold_on, id) index: each chunk is a short query
    that starts where the last one ended, so memory stays flat however many
    rows there are, and no cursor or transaction is held open between chunks.
    """
    columns = (Sale.id, Sale.sold_on, Sale.region, Sale.quantity, Sale.amount)
    query = (
        select(*columns)
        .where(Sale.sold_on.between(date_from, date_to))
        .order_by(Sale.sold_on, Sale.id)
        .limit(chunk_size)
    )
    after: tuple[dt.date, int] | None = None
    while True:
        page = query if after is None else query.where(tuple_(Sale.sold_on, Sale.id) > after)
        rows = session.execute(page).all()
        if not rows:
            return
        yield rows
        after = (rows[-1].sold_on, rows[-1].id)


def period_of(day: dt.date, period: Period) -> str:
    """The label of the period `day` falls in: 2025-03-14, 2025-W11 or 2025-03."""
    if period is Period.DAY:
        return day.isoformat()
    if period is Period.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


@dataclass
class Totals:
    orders: int = 0
    quantity: int = 0
    amount: Decimal = Decimal("0.00")


@dataclass
class Summary:
    """Running totals per (period, region): grows with the groups, never with the rows."""

    period: Period
    groups: dict[tuple[str, str], Totals] = field(default_factory=dict)
    source_rows: int = 0

    def add(self, rows: Sequence[SaleRow]) -> None:
        for row in rows:
            totals = self.groups.setdefault(
                (period_of(row.sold_on, self.period), row.region), Totals()
            )
            totals.orders += 1
            totals.quantity += row.quantity
            totals.amount += row.amount
        self.source_rows += len(rows)

    def rows(self) -> list[tuple[str, str, int, int, Decimal]]:
        """One row per group, in period then region order, matching HEADER."""
        return [
            (period, region, t.orders, t.quantity, t.amount)
            for (period, region), t in sorted(self.groups.items())
        ]
