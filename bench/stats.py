"""Pure arithmetic of the report: percentiles, figures with a baseline, a ratio and a target."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest-rank on the sorted values; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds plus the count."""
    ms = [x * 1000 for x in latencies_s]
    return {
        "count": float(len(ms)),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else math.nan,
    }


@dataclass(frozen=True, slots=True)
class Figure:
    """One line of the report. ``ratio`` is value ÷ baseline, or baseline ÷ value for
    "lower is better" figures (``inverse``), so a ratio above 1 always means "better than the
    baseline"; ``target`` is a bound on the ratio (or on the value when there is no baseline)."""

    section: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    inverse: bool = False
    target_op: str = ""  # ">=", "<=" or "" (informational)
    target: float | None = None
    target_on_value: bool = False  # the target bounds the value itself, not the ratio
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        num, den = (self.baseline, self.value) if self.inverse else (self.value, self.baseline)
        if den == 0 or math.isnan(num) or math.isnan(den):
            return None
        return num / den

    @property
    def compared(self) -> float | None:
        """What the target bounds: the ratio when there is a baseline, else the value."""
        if self.target_on_value or self.baseline is None:
            return self.value
        return self.ratio

    @property
    def met(self) -> bool | None:
        x = self.compared
        if not self.target_op or self.target is None or x is None or math.isnan(x):
            return None
        return x >= self.target if self.target_op == ">=" else x <= self.target

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(ratio=self.ratio, met=self.met)
        return out


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "—"}[met]


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"
