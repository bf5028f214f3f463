"""Support and resistance levels from swing points.

A swing high is a candle whose high is the highest of the ``k`` candles on each side (and
higher than the ``k`` before it, so a flat top counts once); a swing low likewise with lows.
Swing prices within half the average high-low range of a level's lowest one belong to that
level: its price is their mean and its ``touches`` their count. Levels under the last close
are support, above it resistance; the strongest (most touches, then most recent) come first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from marketsvc.analytics.stats import FloatArray
from marketsvc.errors import InvalidInputError

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Level:
    price: float
    touches: int
    first: int  # position of the first swing point of the level
    last: int  # position of the last one
    kind: str  # support | resistance


def swing_highs(high: npt.ArrayLike, k: int = 3) -> IntArray:
    """Positions of swing highs (the first and last ``k`` candles cannot be one)."""
    return _swings(np.asarray(high, dtype=np.float64), k)


def swing_lows(low: npt.ArrayLike, k: int = 3) -> IntArray:
    return _swings(-np.asarray(low, dtype=np.float64), k)


def _swings(x: FloatArray, k: int) -> IntArray:
    if k < 1:
        raise InvalidInputError(f"swing width must be at least 1, got {k}")
    if x.size < 2 * k + 1:
        return np.zeros(0, dtype=np.int64)
    windows = sliding_window_view(x, 2 * k + 1)
    centre = windows[:, k]
    is_top = (centre >= windows.max(axis=1)) & (centre > windows[:, :k].max(axis=1))
    return (np.flatnonzero(is_top) + k).astype(np.int64)


def support_resistance(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    *,
    k: int = 3,
    max_levels: int = 5,
) -> tuple[list[Level], list[Level]]:
    """(support, resistance) levels, strongest first, at most ``max_levels`` each."""
    h, lo, c = (np.asarray(a, dtype=np.float64) for a in (high, low, close))
    if not (h.size == lo.size == c.size):
        raise InvalidInputError("high, low and close must be equally long")
    if c.size == 0:
        return [], []
    points = np.concatenate((swing_highs(h, k), swing_lows(lo, k)))
    prices = np.concatenate((h[swing_highs(h, k)], lo[swing_lows(lo, k)]))
    if prices.size == 0:
        return [], []
    tolerance = 0.5 * float(np.mean(h - lo))
    order = np.argsort(prices, kind="stable")
    prices, points = prices[order], points[order]
    # A level spans at most the tolerance from its lowest price: chaining neighbours (each
    # within the tolerance of the next) would merge a whole trend into one "level".
    starts: list[int] = []
    floor = -np.inf
    for i, price in enumerate(prices.tolist()):
        if price - floor > tolerance:
            starts.append(i)
            floor = price
    last_close = float(c[-1])
    support: list[Level] = []
    resistance: list[Level] = []
    for group_prices, group_points in zip(
        np.split(prices, starts[1:]), np.split(points, starts[1:]), strict=True
    ):
        price = float(group_prices.mean())
        kind = "support" if price < last_close else "resistance"
        level = Level(
            price, int(group_prices.size), int(group_points.min()), int(group_points.max()), kind
        )
        (support if kind == "support" else resistance).append(level)

    def strength(level: Level) -> tuple[int, int]:
        return (-level.touches, -level.last)

    support.sort(key=strength)
    resistance.sort(key=strength)
    return support[:max_levels], resistance[:max_levels]
