"""The statistics of the benchmarks: medians, percentiles, and paired comparisons.

A comparison on a noisy machine is measured in interleaved rounds (A, B, A, B...):
each round measures every variant once, close together in time, and the variants
are compared round by round (`paired_ratio`, `paired_difference`), so a burst of
load from elsewhere shifts both sides of one pair instead of one side of the
whole comparison.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("the median of no values")
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`th percentile (0-100) of `values`, interpolated between the closest ranks.

    The same definition as numpy's default: percentile(x, 50) is the median, 0 the
    minimum, 100 the maximum.
    """
    if not values:
        raise ValueError("the percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is from 0 to 100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rounds(variants: Sequence[T], count: int) -> Iterator[list[T]]:
    """`count` rounds, each every variant once, the order rotated by one each round.

    Two variants run A B, B A, A B...: neither always goes first, so neither
    always meets what the previous one left behind (a warm cache, a busy queue).
    """
    for number in range(count):
        shift = number % len(variants)
        yield [*variants[shift:], *variants[:shift]]


def paired_ratio(measured: Sequence[float], baseline: Sequence[float]) -> float:
    """The median, over rounds, of measured / baseline within each round."""
    _check_pairs(measured, baseline)
    return median([m / b for m, b in zip(measured, baseline, strict=True)])


def paired_difference(measured: Sequence[float], baseline: Sequence[float]) -> float:
    """The median, over rounds, of measured - baseline within each round."""
    _check_pairs(measured, baseline)
    return median([m - b for m, b in zip(measured, baseline, strict=True)])


def _check_pairs(measured: Sequence[float], baseline: Sequence[float]) -> None:
    if len(measured) != len(baseline) or not measured:
        raise ValueError(f"{len(measured)} rounds measured against {len(baseline)}")
