"""What a benchmark module returns: figures, each with its unit, its target and its basis."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    MET = "pass"
    MISSED = "miss"
    NONE = "-"  # no target: the figure is context (a floor, a phase of a larger figure)


@dataclass(frozen=True)
class Figure:
    """One measured number.

    `target` is an upper bound: a figure passes when `value <= target`. `comparison`
    says what the value is compared against and how it was measured (rounds,
    samples, statistic), so the table can be read without the code. `samples` are
    the raw numbers behind `value`, in `unit`, for docs/benchmarks.json.
    """

    name: str
    value: float
    unit: str
    target: float | None = None
    comparison: str = ""
    samples: tuple[float, ...] = ()

    @property
    def verdict(self) -> Verdict:
        if self.target is None:
            return Verdict.NONE
        return Verdict.MET if self.value <= self.target else Verdict.MISSED
