"""Indicator values against references on a SYNTHETIC 1,000-candle series (seeded numpy RNG:
a geometric random walk with random intrabar ranges and volumes), to 1e-8 relative.

Two references: plain loops written here from TA-Lib's definitions (always run), and TA-Lib
itself (the ``TA-Lib`` wheel) when it is installed. VWAP has no TA-Lib counterpart.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from marketsvc import analytics as ind

N = 1000
PERIODS = (2, 5, 14, 50, 200, 500)


def synthetic_series(seed: int = 20240607) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.012, N)))
    high = close * (1 + np.abs(rng.normal(0.0, 0.006, N)))
    low = close * (1 - np.abs(rng.normal(0.0, 0.006, N)))
    volume = rng.uniform(1e3, 1e6, N)
    return {"high": high, "low": low, "close": close, "volume": volume}


S = synthetic_series()


def same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=0, equal_nan=True)


# --- loop references, one statement per step of the TA-Lib definition ---------------------------


def ref_sma(x: np.ndarray, p: int) -> np.ndarray:
    out = np.full(len(x), math.nan)
    for i in range(p - 1, len(x)):
        out[i] = sum(x[i - p + 1 : i + 1]) / p
    return out


def ref_ema(x: np.ndarray, p: int, first: int | None = None) -> np.ndarray:
    """EMA with alpha 2/(p+1), seeded at index ``first`` (default p-1) with the SMA of the p
    values ending there."""
    first = p - 1 if first is None else first
    out = np.full(len(x), math.nan)
    prev = sum(x[first - p + 1 : first + 1]) / p
    out[first] = prev
    k = 2.0 / (p + 1)
    for i in range(first + 1, len(x)):
        prev = (x[i] - prev) * k + prev
        out[i] = prev
    return out


def ref_rsi(x: np.ndarray, p: int) -> np.ndarray:
    out = np.full(len(x), math.nan)
    gain = loss = 0.0
    for i in range(1, p + 1):
        d = x[i] - x[i - 1]
        gain, loss = gain + max(d, 0.0), loss + max(-d, 0.0)
    gain, loss = gain / p, loss / p
    out[p] = 100.0 * gain / (gain + loss)
    for i in range(p + 1, len(x)):
        d = x[i] - x[i - 1]
        gain = (gain * (p - 1) + max(d, 0.0)) / p
        loss = (loss * (p - 1) + max(-d, 0.0)) / p
        out[i] = 100.0 * gain / (gain + loss)
    return out


def ref_macd(x: np.ndarray, fast: int, slow: int, sig: int) -> tuple[np.ndarray, ...]:
    # TA-Lib starts both EMAs at index slow-1; the signal is an EMA of the line from there.
    line = ref_ema(x, fast, first=slow - 1) - ref_ema(x, slow)
    signal = np.full(len(x), math.nan)
    signal[slow - 1 :] = ref_ema(line[slow - 1 :], sig)
    start = slow - 1 + sig - 1
    line[:start] = math.nan
    return line, signal, line - signal


def ref_bbands(x: np.ndarray, p: int, k: float) -> tuple[np.ndarray, ...]:
    mid = ref_sma(x, p)
    sd = np.full(len(x), math.nan)
    for i in range(p - 1, len(x)):
        window = x[i - p + 1 : i + 1]
        sd[i] = math.sqrt(sum((v - mid[i]) ** 2 for v in window) / p)
    return mid + k * sd, mid, mid - k * sd


def ref_atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, p: int) -> np.ndarray:
    tr = [math.nan] + [
        max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))
    ]
    out = np.full(len(c), math.nan)
    prev = sum(tr[1 : p + 1]) / p
    out[p] = prev
    for i in range(p + 1, len(c)):
        prev = (prev * (p - 1) + tr[i]) / p
        out[i] = prev
    return out


def ref_stoch(
    h: np.ndarray, lo: np.ndarray, c: np.ndarray, kp: int, ks: int, dp: int
) -> tuple[np.ndarray, np.ndarray]:
    fast_k = np.full(len(c), math.nan)
    for i in range(kp - 1, len(c)):
        hh, ll = max(h[i - kp + 1 : i + 1]), min(lo[i - kp + 1 : i + 1])
        fast_k[i] = 100.0 * (c[i] - ll) / (hh - ll) if hh != ll else 0.0
    slow_k = np.full(len(c), math.nan)
    slow_k[kp - 1 :] = ref_sma(fast_k[kp - 1 :], ks)
    slow_d = np.full(len(c), math.nan)
    slow_d[kp + ks - 2 :] = ref_sma(slow_k[kp + ks - 2 :], dp)
    slow_k[: kp + ks + dp - 3] = math.nan
    return slow_k, slow_d


def ref_obv(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.empty(len(c))
    total = v[0]
    out[0] = total
    for i in range(1, len(c)):
        if c[i] > c[i - 1]:
            total += v[i]
        elif c[i] < c[i - 1]:
            total -= v[i]
        out[i] = total
    return out


def ref_vwap(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.empty(len(c))
    pv = vol = 0.0
    for i in range(len(c)):
        pv += (h[i] + lo[i] + c[i]) / 3.0 * v[i]
        vol += v[i]
        out[i] = pv / vol
    return out


# --- the comparisons ------------------------------------------------------------------------


@pytest.mark.parametrize("period", PERIODS)
def test_single_period_indicators_match_loop_reference(period: int) -> None:
    h, lo, c = S["high"], S["low"], S["close"]
    same(ind.sma(c, period), ref_sma(c, period))
    same(ind.ema(c, period), ref_ema(c, period))
    same(ind.rsi(c, period), ref_rsi(c, period))
    same(ind.atr(h, lo, c, period), ref_atr(h, lo, c, period))
    for ours, ref in zip(ind.bbands(c, period, 2.0), ref_bbands(c, period, 2.0), strict=True):
        same(ours, ref)


@pytest.mark.parametrize(("fast", "slow", "sig"), [(12, 26, 9), (3, 10, 16), (50, 200, 20)])
def test_macd_matches_loop_reference(fast: int, slow: int, sig: int) -> None:
    for ours, ref in zip(
        ind.macd(S["close"], fast, slow, sig), ref_macd(S["close"], fast, slow, sig), strict=True
    ):
        same(ours, ref)


@pytest.mark.parametrize(("kp", "ks", "dp"), [(14, 3, 3), (5, 3, 3), (30, 5, 2)])
def test_stoch_matches_loop_reference(kp: int, ks: int, dp: int) -> None:
    h, lo, c = S["high"], S["low"], S["close"]
    for ours, ref in zip(
        ind.stoch(h, lo, c, kp, ks, dp), ref_stoch(h, lo, c, kp, ks, dp), strict=True
    ):
        same(ours, ref)


def test_volume_indicators_match_loop_reference() -> None:
    h, lo, c, v = S["high"], S["low"], S["close"], S["volume"]
    same(ind.obv(c, v), ref_obv(c, v))
    same(ind.vwap(h, lo, c, v), ref_vwap(h, lo, c, v))


def _talib_pairs(talib: Any) -> list[tuple[str, Any, Any]]:
    """(name, ours, TA-Lib's) for every indicator TA-Lib has."""
    h, lo, c, v = S["high"], S["low"], S["close"], S["volume"]
    pairs: list[tuple[str, Any, Any]] = []
    for p in PERIODS:
        pairs += [
            (f"SMA{p}", ind.sma(c, p), talib.SMA(c, p)),
            (f"EMA{p}", ind.ema(c, p), talib.EMA(c, p)),
            (f"RSI{p}", ind.rsi(c, p), talib.RSI(c, p)),
            (f"ATR{p}", ind.atr(h, lo, c, p), talib.ATR(h, lo, c, p)),
            (f"BBANDS{p}", ind.bbands(c, p, 2.0), talib.BBANDS(c, p, 2.0, 2.0, 0)),
        ]
    pairs += [
        ("MACD", ind.macd(c), talib.MACD(c, 12, 26, 9)),
        ("STOCH", ind.stoch(h, lo, c), talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)),
        ("OBV", ind.obv(c, v), talib.OBV(c, v)),
        ("TRANGE", ind.true_range(h, lo, c), talib.TRANGE(h, lo, c)),
    ]
    return pairs


def test_every_indicator_matches_ta_lib() -> None:
    talib = pytest.importorskip("talib")
    for name, ours, theirs in _talib_pairs(talib):
        series = zip(ours, theirs, strict=True) if isinstance(ours, tuple) else [(ours, theirs)]
        for x, y in series:
            try:
                same(x, np.asarray(y))
            except AssertionError as exc:
                raise AssertionError(f"{name} differs from TA-Lib") from exc


def test_macd_line_is_not_the_plain_ema_difference_at_first() -> None:
    # Guards the TA-Lib seeding: a plain EMA(12) seeded at index 11 differs early on.
    line = ind.macd(S["close"])[0]
    plain = ind.ema(S["close"], 12) - ind.ema(S["close"], 26)
    assert abs(line[33] - plain[33]) > 1e-9
    np.testing.assert_allclose(line[-1], plain[-1], rtol=1e-6)
