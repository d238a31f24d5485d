"""Summing the sales by period and region: the database adds up, Python folds days into periods.

A report's range is cut into slices of days (`date_slices`, or `paced_slices`
for the single task, which grows its slices while they are quick). For each slice one
grouped query (`summarize_slice`) returns a total per day and region, so what
crosses from the database grows with the days and regions, never with the rows.
`Summary.add` then folds those day totals into the report's periods with
`period_of`, in Python: the ISO-week rule stays in one place instead of in each
dialect's date functions, and the fold works on a few thousand groups at most.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypedDict

from sqlalchemy import BigInteger, ColumnElement, Select, cast, func, select
from sqlalchemy.orm import Session

from reports.models import Period, Sale

HEADER = ("period", "region", "orders", "quantity", "amount")
#: The days one slice covers. A slice is one grouped query, one progress write and
#: the step at which a cancel is seen; at the demo data's ~900 sales a day it takes
#: a few milliseconds, and a three-year report is 36 slices.
SLICE_DAYS = 31
#: How long `paced_slices` aims for each slice to take: the progress bar still
#: moves several times a second, and a small report is a few queries instead of
#: one per month (each query and progress write costs a few milliseconds whatever
#: the rows: 36 of them were 2.3 times PostgreSQL's own GROUP BY at 100k sales).
SLICE_SECONDS = 0.25
#: The most a slice may grow from one to the next.
SLICE_GROWTH = 4


class DayTotals(TypedDict):
    """The sales of one day in one region. Plain JSON data, so it can cross a broker."""

    day: str  # ISO date, 2025-03-14
    region: str
    orders: int
    quantity: int
    cents: int  # the amount in hundredths: an integer, so sums of sums stay exact


def date_slices(
    date_from: dt.date, date_to: dt.date, *, days: int = SLICE_DAYS
) -> list[tuple[dt.date, dt.date]]:
    """Inclusive (first, last) ranges of at most `days` days, in order, covering each day once."""
    step = dt.timedelta(days=days)
    slices = []
    first = date_from
    while first <= date_to:
        last = min(first + step - dt.timedelta(days=1), date_to)
        slices.append((first, last))
        first = last + dt.timedelta(days=1)
    return slices


def paced_slices(
    date_from: dt.date,
    date_to: dt.date,
    *,
    seconds: float = SLICE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[tuple[dt.date, dt.date]]:
    """Inclusive (first, last) ranges covering each day once, in order, sized by time.

    The first is `SLICE_DAYS` long; each next one as long as the one before
    would take `seconds` at its pace (the time between its yield and the next
    request, which is the caller's work on it), at most `SLICE_GROWTH` times
    longer and never shorter than `SLICE_DAYS`. Dense days make short slices,
    sparse ones long slices.
    """
    days = SLICE_DAYS
    first = date_from
    while first <= date_to:
        last = min(first + dt.timedelta(days=days - 1), date_to)
        started = clock()
        yield first, last
        took = clock() - started
        pace = seconds / took if took > 0 else SLICE_GROWTH
        days = max(SLICE_DAYS, int(days * min(pace, SLICE_GROWTH)))
        first = last + dt.timedelta(days=1)


def _cents_of_amount() -> ColumnElement[int]:
    # SQLite stores NUMERIC as a binary float, and a float sum drifts: 2,000 sales of
    # 9,999,999,999.99 sum 0.05 short. One stored amount is within a relative 2**-52
    # of its two-place value, and Numeric(12, 2) keeps |amount| * 100 below 10**12,
    # so amount * 100 is within 0.001 of a whole number of cents: round() recovers
    # it exactly, and integers sum exactly (64-bit in SQLite, which raises on
    # overflow rather than wrap). PostgreSQL's numeric is exact either way; one
    # expression for both keeps the two databases giving the same answer.
    return cast(func.round(Sale.amount * 100), BigInteger)


def day_totals_query(date_from: dt.date, date_to: dt.date) -> Select[dt.date, str, int, int, int]:
    """(sold_on, region, orders, quantity, cents) per day and region from `date_from` to `date_to`.

    A range of the covering index on (sold_on, region, quantity, amount), which
    is in the order the query groups by: SQLite reads the index alone and never
    sorts; PostgreSQL scans the index only, once vacuum has marked the table's
    pages all-visible (tests/test_sales.py reads both plans).
    """
    return (
        select(
            Sale.sold_on,
            Sale.region,
            func.count(),
            func.sum(Sale.quantity),
            # PostgreSQL sums a bigint into a numeric, which psycopg reads as a Decimal,
            # slower to load than an int and not plain data: a bigint again, as SQLite's.
            cast(func.sum(_cents_of_amount()), BigInteger),
        )
        .where(Sale.sold_on.between(date_from, date_to))
        .group_by(Sale.sold_on, Sale.region)
    )


def summarize_slice(session: Session, date_from: dt.date, date_to: dt.date) -> list[DayTotals]:
    """The sales from `date_from` to `date_to` (inclusive), totalled per day and region.

    One grouped query that only reads (`day_totals_query`). The result depends
    on nothing but the arguments and the table, and is plain JSON data, so
    slices can be summed in any order or in separate tasks, and added up
    afterwards (`Summary.add`).
    """
    return [
        DayTotals(
            day=sold_on.isoformat(), region=region, orders=orders, quantity=quantity, cents=cents
        )
        for sold_on, region, orders, quantity, cents in session.execute(
            day_totals_query(date_from, date_to)
        )
    ]


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
    cents: int = 0

    @property
    def amount(self) -> Decimal:
        """The amount with exactly two places: 15.50, never 15.5 (as `cents / 100` would give)."""
        return Decimal(self.cents).scaleb(-2)


@dataclass
class Summary:
    """Totals per (period, region): grows with the groups, never with the rows."""

    period: Period
    groups: dict[tuple[str, str], Totals] = field(default_factory=dict)
    source_rows: int = 0
    #: The period of each ISO day seen, worked out once for all its regions.
    _periods: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def add(self, days: Iterable[DayTotals]) -> None:
        """Fold day totals into their periods: the merge of slices.

        Adding the results of any set of slices that covers each day once, in
        any order, gives the same summary.
        """
        for totals in days:
            day = totals["day"]
            if (period := self._periods.get(day)) is None:
                period = self._periods[day] = period_of(dt.date.fromisoformat(day), self.period)
            key = (period, totals["region"])
            if (group := self.groups.get(key)) is None:
                group = self.groups[key] = Totals()
            group.orders += totals["orders"]
            group.quantity += totals["quantity"]
            group.cents += totals["cents"]
            self.source_rows += totals["orders"]

    def rows(self) -> list[tuple[str, str, int, int, Decimal]]:
        """One row per group, in period then region order, matching HEADER."""
        return [
            (period, region, t.orders, t.quantity, t.amount)
            for (period, region), t in sorted(self.groups.items())
        ]
