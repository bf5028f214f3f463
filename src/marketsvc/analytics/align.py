"""Putting several symbols' daily closes side by side.

Stocks trade on exchange days, crypto every day: their daily candles do not share timestamps
(and providers stamp daily bars at different hours). Closes are therefore matched on the UTC
calendar date of each bar and kept only on the dates every symbol has. A crypto return in the
aligned series then spans the same dates as a stock's (Friday → Monday across a weekend), so
the two are comparable; the price is fewer crypto observations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from marketsvc.analytics.stats import FloatArray


@dataclass(frozen=True, slots=True)
class Aligned:
    """``closes[i, k]``: symbol ``symbols[k]``'s close on ``dates[i]``."""

    symbols: list[str]
    dates: list[date]
    closes: FloatArray
    dropped: dict[str, int]  # per symbol: its candles on dates some other symbol lacks


def align_on_dates(series: Mapping[str, tuple[Sequence[date], Sequence[float]]]) -> Aligned:
    """Keep the dates every series has (the last close of a date wins if a series has two)."""
    symbols = list(series)
    by_symbol: dict[str, dict[date, float]] = {
        s: dict(zip(dates, values, strict=True)) for s, (dates, values) in series.items()
    }
    common: set[date] | None = None
    for mapping in by_symbol.values():
        common = set(mapping) if common is None else common & set(mapping)
    dates = sorted(common or ())
    matrix = np.array(
        [[by_symbol[s][d] for s in symbols] for d in dates], dtype=np.float64
    ).reshape(len(dates), len(symbols))
    dropped = {s: len(by_symbol[s]) - len(dates) for s in symbols}
    return Aligned(symbols, dates, matrix, dropped)


def explain(asset_classes: Sequence[str], aligned: Aligned) -> str:
    """One sentence saying how the symbols were put side by side."""
    n = len(aligned.dates)
    if len(set(asset_classes)) > 1:
        return (
            f"closes matched on the {n} UTC calendar dates all symbols share: stocks trade on "
            "exchange days and crypto every day, so crypto closes on other dates are left out "
            "and a crypto return spans the same dates as a stock's (e.g. Friday to Monday)"
        )
    return f"closes matched on the {n} UTC calendar dates all symbols share"
