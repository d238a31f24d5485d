"""Summing sales in the database, one slice of days at a time, and folding days into periods."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from reports.models import Period, Sale
from reports.sales import (
    SLICE_DAYS,
    SLICE_GROWTH,
    Summary,
    date_slices,
    day_totals_query,
    paced_slices,
    period_of,
    summarize_slice,
)

TODAY = dt.datetime.now(dt.UTC).date()
YEAR_AGO = TODAY - dt.timedelta(days=365)
SumRowsOneByOne = Callable[[Session, dt.date, dt.date, Period], list[tuple[Any, ...]]]
#: A day long before the seeded sales: rows a test adds there are its own.
LONG_AGO = dt.date(2001, 1, 1)


def test_period_labels() -> None:
    day = dt.date(2025, 3, 14)
    assert period_of(day, Period.DAY) == "2025-03-14"
    assert period_of(day, Period.WEEK) == "2025-W11"
    assert period_of(day, Period.MONTH) == "2025-03"
    # ISO weeks belong to the ISO year: 2024-12-30 is in week 1 of 2025.
    assert period_of(dt.date(2024, 12, 30), Period.WEEK) == "2025-W01"


@pytest.mark.parametrize(("span", "days"), [(1, 31), (31, 31), (32, 31), (91, 31), (10, 1), (7, 3)])
def test_slices_cover_every_day_once_in_order(span: int, days: int) -> None:
    date_from = dt.date(2024, 2, 20)
    date_to = date_from + dt.timedelta(days=span - 1)
    slices = date_slices(date_from, date_to, days=days)
    covered = [
        first + dt.timedelta(days=offset)
        for first, last in slices
        for offset in range((last - first).days + 1)
    ]
    assert covered == [date_from + dt.timedelta(days=offset) for offset in range(span)]
    assert all(1 <= (last - first).days + 1 <= days for first, last in slices)
    assert len(slices) == -(-span // days)  # as few as the length allows


class Clock:
    """A clock that the caller's work on each slice moves by that slice's entry in `took`."""

    def __init__(self, took: Callable[[int], float]) -> None:
        self.now, self.took, self.reads = 0.0, took, 0

    def __call__(self) -> float:
        if self.reads % 2:  # the read after a slice's work: the slice took its time
            self.now += self.took(self.reads // 2)
        self.reads += 1
        return self.now


def lengths(slices: list[tuple[dt.date, dt.date]]) -> list[int]:
    return [(last - first).days + 1 for first, last in slices]


@pytest.mark.parametrize("took", [0.0, 0.01, 0.25, 3.0])
def test_paced_slices_cover_every_day_once_in_order(took: float) -> None:
    date_from, date_to = dt.date(2020, 1, 1), dt.date(2024, 12, 31)
    slices = list(paced_slices(date_from, date_to, clock=Clock(lambda _: took)))
    days = [
        first + dt.timedelta(days=n)
        for first, last in slices
        for n in range((last - first).days + 1)
    ]
    assert days == [date_from + dt.timedelta(days=n) for n in range((date_to - date_from).days + 1)]


def test_quick_slices_grow_up_to_four_times_at_a_step() -> None:
    slices = paced_slices(dt.date(2020, 1, 1), dt.date(2030, 1, 1), clock=Clock(lambda _: 0.001))
    assert lengths(list(slices))[:4] == [SLICE_DAYS * SLICE_GROWTH**n for n in range(4)]


def test_a_slice_is_sized_to_take_the_target_time_at_the_last_ones_pace() -> None:
    # 0.125 s for 31 days: 62 days would take the 0.25 s aimed at.
    slices = paced_slices(dt.date(2020, 1, 1), dt.date(2021, 1, 1), clock=Clock(lambda _: 0.125))
    assert lengths(list(slices))[:2] == [31, 62]


def test_slow_slices_stay_at_the_shortest() -> None:
    slices = paced_slices(dt.date(2020, 1, 1), dt.date(2021, 1, 1), clock=Clock(lambda _: 2.0))
    assert set(lengths(list(slices))[:-1]) == {SLICE_DAYS}


@pytest.mark.parametrize("period", list(Period))
def test_slices_sum_to_what_the_rows_sum_to_one_by_one(
    session: Session, period: Period, sum_rows_one_by_one: SumRowsOneByOne
) -> None:
    # 5-day slices cut weeks and months in two: the fold must join the halves.
    summary = Summary(period)
    for first, last in date_slices(YEAR_AGO, TODAY, days=5):
        summary.add(summarize_slice(session, first, last))
    expected = sum_rows_one_by_one(session, YEAR_AGO, TODAY, period)
    # repr, not ==: Decimal("15.5") == Decimal("15.50"), and the file shows the difference.
    assert repr(summary.rows()) == repr(expected)
    assert summary.source_rows == sum(row[2] for row in expected) > 0
    assert len(summary.groups) == len(expected)


def test_slices_add_up_in_any_order(session: Session) -> None:
    slices = date_slices(YEAR_AGO, TODAY, days=17)
    in_order, shuffled = Summary(Period.WEEK), Summary(Period.WEEK)
    for first, last in slices:
        in_order.add(summarize_slice(session, first, last))
    # Backwards through every other slice, then forwards through the rest.
    for first, last in [*slices[::2][::-1], *slices[1::2]]:
        shuffled.add(summarize_slice(session, first, last))
    assert repr(shuffled.rows()) == repr(in_order.rows())


def test_a_slice_is_plain_json_data(session: Session) -> None:
    partial = summarize_slice(session, YEAR_AGO, TODAY)
    assert partial
    assert json.loads(json.dumps(partial)) == partial
    assert {type(value) for totals in partial for value in totals.values()} == {str, int}


def test_amounts_are_exact_where_a_floating_point_sum_drifts(session: Session) -> None:
    # SQLite keeps NUMERIC as a float; summed as floats these come to 0.05 too little.
    amount = Decimal("9999999999.99")
    sales = [
        {"sold_on": LONG_AGO, "region": "North", "product": "Big", "quantity": 1, "amount": amount}
    ] * 2_000
    session.execute(insert(Sale), sales)  # never committed: the test's own rows
    try:
        summary = Summary(Period.MONTH)
        summary.add(summarize_slice(session, LONG_AGO, LONG_AGO))
        assert summary.rows() == [("2001-01", "North", 2_000, 2_000, amount * 2_000)]
        assert str(summary.rows()[0][4]) == "19999999999980.00"
    finally:
        session.rollback()


def test_the_grouped_read_is_bounded_by_the_covering_index(session: Session) -> None:
    query = day_totals_query(YEAR_AGO, TODAY)
    dialect = session.get_bind().dialect
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    index = "ix_sales_sold_on_region_quantity_amount"
    if dialect.name == "sqlite":
        plan = " | ".join(row[-1] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
        # A range of the index alone, already in GROUP BY order: no table, no sort.
        assert plan == f"SEARCH sales USING COVERING INDEX {index} (sold_on>? AND sold_on<?)"
    else:
        # The test table is small enough for a sequential scan to be cheaper: forbid
        # it, so the plan shows whether the index can bound the range at all.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = " | ".join(row[0] for row in session.execute(text("EXPLAIN " + sql)))
        assert f"Index Only Scan using {index} on sales" in plan
        assert "Index Cond: ((sold_on >= " in plan
    session.rollback()


def test_every_slice_is_planned_for_its_own_dates(session: Session) -> None:
    """PostgreSQL: psycopg prepares a statement after five runs, and PostgreSQL may then
    plan it once for any dates (a generic plan), 1.7 times slower per slice at 10M sales.
    The app's connections force a custom plan for every run (reports/db.py).
    """
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite plans every statement for its own parameters")
    days = date_slices(TODAY - dt.timedelta(days=16 * SLICE_DAYS), TODAY)[:16]
    for first, last in days:
        summarize_slice(session, first, last)

    prepared = session.execute(
        text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%FROM sales%GROUP BY%'"
        )
    ).all()
    assert prepared, "the slice's query was never prepared: nothing to check"
    assert [(generic, custom >= 10) for generic, custom in prepared] == [(0, True)]
    session.rollback()
