"""A long report cut into parts that separate tasks sum, and the merge that checks them.

A part is a contiguous run of slices (reports/sales.py, `date_slices`): a range
of days that one `build_report_part` task sums, slice by slice, into plain
`DayTotals`. The parts of a report run as a Celery group, and a chord callback
merges them (`merge_parts`) and writes the file: reports/tasks.py.

How many parts, and from when on. Each part is one message, one result in the
Redis result backend, one count in the chord and its share of the merge: a few
milliseconds, against about 40 ms per slice at 10M sales (bench/reports.py). So a
part sums at least MIN_SLICES_PER_PART slices, nine months, and a report of fewer
than two such parts (under 18 slices, about 17 months) stays one task, with no
chord at all. And at most MAX_PARTS parts: the count is fixed when the build
starts, without knowing how many worker processes are free, and four fills two
workers of the default concurrency (2); more parts than processes would only
add overhead, and would let one report hold every process of the queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TypedDict

from reports.models import Period
from reports.sales import DayTotals, Summary, date_slices

#: The fewest slices (of 31 days) a part sums: a report shorter than two parts is one task.
MIN_SLICES_PER_PART = 9
#: The most parts a report is cut into, however long it is (the longest has 36 slices).
MAX_PARTS = 4

DateRange = tuple[dt.date, dt.date]


class PartTotals(TypedDict):
    """What a part returns: its range, which identifies it, and its day totals. Plain JSON."""

    first: str  # ISO date of the part's first day
    last: str  # ISO date of its last day
    days: list[DayTotals]


class PartsMismatchError(ValueError):
    """The parts do not cover the report's range exactly once: one is missing, or overlaps."""


def split_into_parts(date_from: dt.date, date_to: dt.date) -> list[DateRange]:
    """Inclusive (first, last) ranges that cover `date_from`..`date_to`, each day once, in order.

    Whole slices only, so each part sums the slices the single task would. As
    many parts as the range holds MIN_SLICES_PER_PART slices, at most MAX_PARTS,
    at least one; their sizes differ by one slice at most.
    """
    slices = date_slices(date_from, date_to)
    count = max(1, min(MAX_PARTS, len(slices) // MIN_SLICES_PER_PART))
    size, longer = divmod(len(slices), count)
    parts, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < longer else 0)
        parts.append((slices[start][0], slices[end - 1][1]))
        start = end
    return parts


def part_range(part: PartTotals) -> DateRange:
    return dt.date.fromisoformat(part["first"]), dt.date.fromisoformat(part["last"])


def merge_parts(
    period: Period, date_from: dt.date, date_to: dt.date, parts: Iterable[PartTotals | None]
) -> Summary:
    """The summary of `date_from`..`date_to` from its parts, in any order.

    A part that came back twice (a redelivered task whose first run also
    finished) is counted once: two results of one range are the same sales.
    None stands for a part that found its run gone and returned nothing. Raises
    PartsMismatchError unless the ranges cover every day of the report exactly
    once: a summary with a part missing, or a day counted twice, is never written.
    """
    by_range: dict[DateRange, PartTotals] = {}
    for part in parts:
        if part is not None:
            by_range.setdefault(part_range(part), part)
    _check_cover(date_from, date_to, sorted(by_range))
    summary = Summary(period)
    for part in by_range.values():
        summary.add(part["days"])
    return summary


def _check_cover(date_from: dt.date, date_to: dt.date, ranges: list[DateRange]) -> None:
    # Sorted by first day, the ranges must follow each other with no gap and no overlap.
    expected = date_from
    for first, last in ranges:
        if first != expected or last < first:
            raise PartsMismatchError(f"no part starts on {expected}; the next is {first}..{last}")
        expected = last + dt.timedelta(days=1)
    if expected != date_to + dt.timedelta(days=1):
        raise PartsMismatchError(f"no part covers {expected}..{date_to}")
