"""What a benchmark hands to the report: measured series, ratios, targets and notes."""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass
class Series:
    """One quantity measured once per round; `group` names its chart panel and table."""

    label: str
    unit: str
    group: str
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values, default=float("nan"))

    @property
    def high(self) -> float:
        return max(self.values, default=float("nan"))


@dataclass(frozen=True)
class Target:
    """A bound from the issue's Targets section, checked against a ratio's median."""

    op: str
    bound: float

    def met(self, value: float) -> bool:
        return _COMPARE[self.op](value, self.bound)

    def __str__(self) -> str:
        symbol = {">=": "≥", "<=": "≤", "<": "<"}[self.op]
        return f"{symbol} {self.bound:g}"


@dataclass
class Ratio:
    """A ratio computed within each round (so both sides share that round's noise)."""

    label: str
    unit: str = "×"
    target: Target | None = None
    values: list[float] = field(default_factory=list)

    @property
    def series(self) -> Series:
        return Series(self.label, self.unit, "ratios", self.values)

    @property
    def met(self) -> bool | None:
        if self.target is None or not self.values:
            return None
        return self.target.met(self.series.median)


@dataclass
class BenchResult:
    name: str
    title: str
    summary: str
    """One paragraph: what is compared with what, and how."""
    series: list[Series] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: str = ""
    """Extra markdown for the report (query plans)."""
    skipped: str | None = None

    def add_series(self, label: str, unit: str, group: str) -> Series:
        series = Series(label, unit, group)
        self.series.append(series)
        return series

    def add_ratio(self, label: str, *, unit: str = "×", target: Target | None = None) -> Ratio:
        ratio = Ratio(label, unit, target)
        self.ratios.append(ratio)
        return ratio
