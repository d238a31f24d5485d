"""A long report cut into parts, and the merge of their totals: any order, duplicates, gaps."""

from __future__ import annotations

import datetime as dt
from itertools import permutations

import pytest
from sqlalchemy.orm import Session

from reports.models import Period
from reports.parts import (
    MAX_PARTS,
    MIN_SLICES_PER_PART,
    PartsMismatchError,
    PartTotals,
    merge_parts,
    split_into_parts,
)
from reports.sales import SLICE_DAYS, Summary, date_slices, summarize_slice
from reports.schemas import MAX_SPAN_DAYS

TODAY = dt.datetime.now(dt.UTC).date()
LONGEST = (TODAY - dt.timedelta(days=MAX_SPAN_DAYS), TODAY)


def days_in(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.mark.parametrize("span", [1, 90, 365, 17 * 31, 18 * 31 - 1, 18 * 31, 27 * 31, 800, 1099])
def test_parts_are_whole_slices_covering_every_day_once(span: int) -> None:
    date_from = dt.date(2024, 2, 20)
    date_to = date_from + dt.timedelta(days=span - 1)
    parts = split_into_parts(date_from, date_to)
    slices = date_slices(date_from, date_to)
    assert [day for first, last in parts for day in days_in(first, last)] == days_in(
        date_from, date_to
    )
    # Each part ends where a slice ends, so it sums exactly the slices the single task does.
    assert {last for _, last in parts} <= {last for _, last in slices}
    sizes = [len(date_slices(first, last)) for first, last in parts]
    assert max(sizes) - min(sizes) <= 1
    assert len(parts) == max(1, min(MAX_PARTS, len(slices) // MIN_SLICES_PER_PART))


def test_a_short_report_is_one_part_and_the_longest_is_the_most() -> None:
    # Just short of two parts' worth of slices: one task. One day more: two parts.
    short = TODAY - dt.timedelta(days=(2 * MIN_SLICES_PER_PART - 1) * SLICE_DAYS - 1), TODAY
    assert len(split_into_parts(*short)) == 1
    assert len(split_into_parts(short[0] - dt.timedelta(days=1), TODAY)) == 2
    assert len(split_into_parts(TODAY - dt.timedelta(days=365), TODAY)) == 1
    assert len(split_into_parts(*LONGEST)) == MAX_PARTS
    # Each part of the longest report sums nine slices or more.
    assert all(
        len(date_slices(*part)) >= MIN_SLICES_PER_PART for part in split_into_parts(*LONGEST)
    )


def summed_parts(session: Session, date_from: dt.date, date_to: dt.date) -> list[PartTotals]:
    """Each part's totals, as its task returns them."""
    return [
        PartTotals(
            first=first.isoformat(),
            last=last.isoformat(),
            days=[
                totals
                for slice_first, slice_last in date_slices(first, last)
                for totals in summarize_slice(session, slice_first, slice_last)
            ],
        )
        for first, last in split_into_parts(date_from, date_to)
    ]


def in_one_go(session: Session, period: Period, date_from: dt.date, date_to: dt.date) -> Summary:
    summary = Summary(period)
    for first, last in date_slices(date_from, date_to):
        summary.add(summarize_slice(session, first, last))
    return summary


@pytest.mark.parametrize("period", list(Period))
def test_the_parts_merge_in_any_order_to_the_single_task_s_summary(
    session: Session, period: Period
) -> None:
    parts = summed_parts(session, *LONGEST)
    assert len(parts) == MAX_PARTS
    expected = in_one_go(session, period, *LONGEST)
    assert expected.source_rows > 0
    for order in permutations(parts):  # all 24
        merged = merge_parts(period, *LONGEST, order)
        # repr: 15.5 and 15.50 are equal Decimals but different files.
        assert repr(merged.rows()) == repr(expected.rows())
        assert merged.source_rows == expected.source_rows


def test_a_part_that_came_back_twice_counts_once(session: Session) -> None:
    parts = summed_parts(session, *LONGEST)
    expected = merge_parts(Period.MONTH, *LONGEST, parts)
    twice = merge_parts(Period.MONTH, *LONGEST, [*parts, parts[2], parts[0]])
    assert repr(twice.rows()) == repr(expected.rows())
    assert twice.source_rows == expected.source_rows


def test_a_missing_part_is_never_merged(session: Session) -> None:
    parts = summed_parts(session, *LONGEST)
    for missing in range(len(parts)):
        others = parts[:missing] + parts[missing + 1 :]
        with pytest.raises(PartsMismatchError):
            merge_parts(Period.MONTH, *LONGEST, others)
        # A part that found its run gone returns None: still missing, even beside a duplicate.
        with pytest.raises(PartsMismatchError):
            merge_parts(Period.MONTH, *LONGEST, [*others, None, others[0]])


def test_overlapping_parts_are_never_merged() -> None:
    first, last = dt.date(2024, 1, 1), dt.date(2024, 12, 31)

    def part(start: str, end: str) -> PartTotals:
        return PartTotals(first=start, last=end, days=[])

    whole = [part("2024-01-01", "2024-06-30"), part("2024-07-01", "2024-12-31")]
    assert merge_parts(Period.MONTH, first, last, whole).groups == {}
    for wrong in (
        [part("2024-01-01", "2024-07-31"), part("2024-07-01", "2024-12-31")],  # July twice
        [part("2024-01-01", "2024-06-30"), part("2024-01-01", "2024-12-31")],  # one inside another
        [*whole, part("2024-12-01", "2025-01-31")],  # past the end
        [],
    ):
        with pytest.raises(PartsMismatchError):
            merge_parts(Period.MONTH, first, last, wrong)
