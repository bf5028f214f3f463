"""Candlestick patterns equal TA-Lib's CDL* functions, output for output, on a seeded
1,000-candle series in which every pattern occurs; and support/resistance levels."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from marketsvc.analytics.levels import support_resistance, swing_highs, swing_lows
from marketsvc.analytics.patterns import PATTERNS, detect_all
from tests.analytics.synthetic import candles

OHLC = candles(1000, seed=17, inject_every=12)[:4]


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_pattern_equals_talib_and_occurs(name: str) -> None:
    o, h, lo, c = OHLC
    pattern = PATTERNS[name]
    ours = pattern.fn(o, h, lo, c)
    ref = getattr(talib, pattern.talib)(o, h, lo, c)
    assert ours.shape == ref.shape
    mismatches = np.flatnonzero(ours != ref)
    assert mismatches.size == 0, f"{name} differs from {pattern.talib} at {mismatches[:10]}"
    assert np.count_nonzero(ref) >= 1, f"{name} never occurs in the test data"


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("decimals", [None, 2])
def test_all_patterns_equal_talib_on_other_series(seed: int, decimals: int | None) -> None:
    # Rounded prices make exact ties (body == threshold), where the comparison operators and
    # the running averages' rounding must match TA-Lib's exactly.
    o, h, lo, c = candles(500, seed=seed, inject_every=7)[:4]
    if decimals is not None:
        o, h, lo, c = (np.round(x, decimals) for x in (o, h, lo, c))
    for name, series in detect_all(o, h, lo, c).items():
        ref = getattr(talib, PATTERNS[name].talib)(o, h, lo, c)
        assert np.array_equal(series, ref), name


@pytest.mark.parametrize("n", [0, 1, 10, 11, 12, 13, 14])
def test_short_inputs_are_all_warm_up_like_talib(n: int) -> None:
    o, h, lo, c = (x[:n] for x in candles(20, seed=3)[:4])
    for name, series in detect_all(o, h, lo, c).items():
        assert np.array_equal(series, getattr(talib, PATTERNS[name].talib)(o, h, lo, c)), name


def test_swing_points_and_levels() -> None:
    high = np.array([1, 2, 5, 2, 1, 2, 5.05, 2, 1, 3, 1], dtype=float)
    low = high - 0.5
    assert swing_highs(high, k=2).tolist() == [2, 6]
    assert swing_lows(low, k=2).tolist() == [4, 8]
    close = np.full(high.size, 3.0)
    support, resistance = support_resistance(high, low, close, k=2)
    # The two highs at 5 and 5.05 are within half the average range (0.25): one level.
    assert len(resistance) == 1 and resistance[0].touches == 2
    assert resistance[0].price == pytest.approx(5.025)
    assert (resistance[0].first, resistance[0].last) == (2, 6)
    assert [lv.price for lv in support] == [0.5]
    assert support[0].touches == 2


def test_levels_of_a_walk_sit_on_the_right_side_of_the_last_close() -> None:
    _, h, lo, c = candles(300, seed=5)[:4]
    support, resistance = support_resistance(h, lo, c, max_levels=50)
    assert len(support) + len(resistance) > 5
    assert all(lv.price < c[-1] for lv in support)
    assert all(lv.price >= c[-1] for lv in resistance)
    assert [lv.touches for lv in support] == sorted((lv.touches for lv in support), reverse=True)
    # No level is wider than the tolerance: a trend is not one level.
    assert max(lv.touches for lv in support + resistance) < 20
