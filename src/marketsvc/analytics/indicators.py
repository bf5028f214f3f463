"""Technical indicators: pure, vectorised numpy functions over float64 arrays.

Conventions follow TA-Lib so numbers match what traders already see elsewhere:

* every output has the input's length; positions without enough history (the warm-up) are
  NaN, never zero;
* EMAs are seeded with the simple average of their first ``period`` values;
* RSI and ATR use Wilder's smoothing (``alpha = 1 / period``);
* MACD seeds its fast EMA at the slow EMA's first index (TA-Lib's way, so ``macd`` is not exactly
  ``ema(12) - ema(26)`` in the first few hundred bars) and reports all three series from the
  signal line's first value on;
* Bollinger bands use the population standard deviation.

VWAP is cumulative from the first bar given (TA-Lib has none); a NaN volume propagates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from marketsvc.domain import Candle
from marketsvc.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]

MIN_PERIOD = 2
MAX_PERIOD = 500


def sma(values: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Simple moving average; the first ``period - 1`` values are NaN."""
    return _rolling_mean(_series(values), _period("period", period))


def ema(values: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Exponential moving average (``alpha = 2 / (period + 1)``), seeded with the first SMA."""
    return _ema(_series(values), _period("period", period))


def rsi(values: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's relative strength index in [0, 100]; the first ``period`` values are NaN.

    A window without any movement answers 0, as TA-Lib does.
    """
    x = _series(values)
    p = _period("period", period)
    out = _nans(x.size)
    if x.size <= p:
        return out
    diff = np.diff(x)
    gain = np.maximum(diff, 0.0)
    loss = np.maximum(-diff, 0.0)
    avg_gain = _wilder(gain, p)
    avg_loss = _wilder(loss, p)
    total = avg_gain + avg_loss
    ratio = np.divide(100.0 * avg_gain, total, out=np.zeros_like(total), where=total != 0.0)
    # gain / (gain + loss) can round a hair past 100 (found by the property test: 1, 1, 10487)
    out[p:] = np.clip(ratio, 0.0, 100.0)
    return out


def macd(
    values: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram; NaN for the first ``slow + signal - 2`` values."""
    x = _series(values)
    f, s, g = _period("fast", fast), _period("slow", slow), _period("signal", signal)
    if f >= s:
        raise InvalidInputError(f"MACD fast period ({f}) must be shorter than slow ({s})")
    warmup = (s - 1) + (g - 1)
    if x.size <= warmup:
        return _nans(x.size), _nans(x.size), _nans(x.size)
    # Both EMAs start at index s-1: the fast one is seeded with the mean of the f values ending
    # there. That is TA-Lib's MACD, which users compare us with.
    line = _ema(x, f, start=s - f) - _ema(x, s)
    sig = _ema(line, g, start=s - 1)
    hist = line - sig
    line[:warmup] = np.nan
    return line, sig, hist


def bbands(
    values: npt.ArrayLike, period: int = 20, k: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands ``(upper, middle, lower)``: SMA ± k population standard deviations."""
    x = _series(values)
    p = _period("period", period)
    if not (isinstance(k, int | float) and math.isfinite(k) and 0.0 < k <= 10.0):
        raise InvalidInputError(f"Bollinger k must be a number in (0, 10], got {k!r}")
    middle, std = _nans(x.size), _nans(x.size)
    if x.size >= p:
        windows = sliding_window_view(x, p)
        middle[p - 1 :] = windows.mean(axis=1)
        std[p - 1 :] = windows.std(axis=1)
    return middle + k * std, middle, middle - k * std


def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """Wilder's true range; NaN for the first bar, which has no previous close."""
    h, lo, c = _same_length(high=high, low=low, close=close)
    out = _nans(h.size)
    if h.size > 1:
        prev = c[:-1]
        out[1:] = np.maximum(
            h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev))
        )
    return out


def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> FloatArray:
    """Average true range (Wilder); the first ``period`` values are NaN."""
    p = _period("period", period)
    tr = true_range(high, low, close)
    out = _nans(tr.size)
    if tr.size > p:
        out[p:] = _wilder(tr[1:], p)
    return out


def stoch(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    k_period: int = 14,
    k_smooth: int = 3,
    d_period: int = 3,
) -> tuple[FloatArray, FloatArray]:
    """Slow stochastic ``(%K, %D)`` with simple averages, as TA-Lib's STOCH with SMA types.

    Both series start at the same index, ``k_period + k_smooth + d_period - 3``; a window whose
    high equals its low gives a fast %K of 0.
    """
    h, lo, c = _same_length(high=high, low=low, close=close)
    kp, ks, dp = (
        _period("k_period", k_period),
        _period("k_smooth", k_smooth),
        _period("d_period", d_period),
    )
    fast_k = _nans(h.size)
    if h.size >= kp:
        highest = sliding_window_view(h, kp).max(axis=1)
        lowest = sliding_window_view(lo, kp).min(axis=1)
        span = highest - lowest
        fast_k[kp - 1 :] = np.divide(
            100.0 * (c[kp - 1 :] - lowest), span, out=np.zeros_like(span), where=span != 0.0
        )
    slow_k = _rolling_mean(fast_k, ks)
    slow_d = _rolling_mean(slow_k, dp)
    slow_k[: min(h.size, kp + ks + dp - 3)] = np.nan
    return slow_k, slow_d


def vwap(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike
) -> FloatArray:
    """Cumulative volume-weighted typical price; NaN while no volume has traded."""
    h, lo, c, v = _same_length(high=high, low=low, close=close, volume=volume)
    typical = (h + lo + c) / 3.0
    cum_volume = np.cumsum(v)
    out = _nans(h.size)
    np.divide(np.cumsum(typical * v), cum_volume, out=out, where=cum_volume != 0.0)
    return out


def obv(close: npt.ArrayLike, volume: npt.ArrayLike) -> FloatArray:
    """On-balance volume, starting from the first bar's volume (TA-Lib's convention)."""
    c, v = _same_length(close=close, volume=volume)
    if c.size == 0:
        return _nans(0)
    signed = np.concatenate(([v[0]], np.sign(np.diff(c)) * v[1:]))
    return np.cumsum(signed)


# --- the /technical helper --------------------------------------------------------------------

Series = dict[str, list[float | None]]


INDICATORS: tuple[str, ...] = ("sma", "ema", "rsi", "macd", "bbands", "atr", "stoch", "vwap", "obv")


def compute(names: Iterable[str], candles: Sequence[Candle], period: int = 14) -> dict[str, Series]:
    """Compute the named indicators over ``candles`` (oldest first) for the API.

    ``period`` drives sma, ema, rsi, bbands (k = 2), atr and the stochastic's %K window; macd is
    12/26/9; vwap and obv take none. Each answer is ``{series name: values}`` with NaN as None,
    aligned with ``candles``. A missing volume counts as NaN.
    """
    wanted = list(dict.fromkeys(n.strip().lower() for n in names))
    unknown = [n for n in wanted if n not in INDICATORS]
    if unknown:
        raise InvalidInputError(
            f"unknown indicator(s) {', '.join(unknown)}; known: {', '.join(INDICATORS)}"
        )
    p = _period("period", period)
    o = np.array([(c.high, c.low, c.close) for c in candles], dtype=np.float64).reshape(-1, 3)
    high, low, close = o[:, 0], o[:, 1], o[:, 2]
    volume = np.array([np.nan if c.volume is None else c.volume for c in candles], dtype=np.float64)
    result: dict[str, Series] = {}
    for name in wanted:
        if name == "sma":
            result[name] = {"value": _to_json(sma(close, p))}
        elif name == "ema":
            result[name] = {"value": _to_json(ema(close, p))}
        elif name == "rsi":
            result[name] = {"value": _to_json(rsi(close, p))}
        elif name == "macd":
            line, sig, hist = macd(close)
            result[name] = {"macd": _to_json(line), "signal": _to_json(sig), "hist": _to_json(hist)}
        elif name == "bbands":
            up, mid, down = bbands(close, p)
            result[name] = {"upper": _to_json(up), "middle": _to_json(mid), "lower": _to_json(down)}
        elif name == "atr":
            result[name] = {"value": _to_json(atr(high, low, close, p))}
        elif name == "stoch":
            k, d = stoch(high, low, close, p)
            result[name] = {"k": _to_json(k), "d": _to_json(d)}
        elif name == "vwap":
            result[name] = {"value": _to_json(vwap(high, low, close, volume))}
        else:
            result[name] = {"value": _to_json(obv(close, volume))}
    return result


# --- internals ----------------------------------------------------------------------------------


def _period(name: str, value: object) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not MIN_PERIOD <= value <= MAX_PERIOD
    ):
        raise InvalidInputError(
            f"{name} must be an integer from {MIN_PERIOD} to {MAX_PERIOD}, got {value!r}"
        )
    return int(value)


def _series(values: npt.ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"indicator input is not numeric: {exc}") from exc
    if arr.ndim != 1:
        raise InvalidInputError(f"indicator input must be one-dimensional, got {arr.ndim} dims")
    return arr


def _same_length(**arrays: npt.ArrayLike) -> list[FloatArray]:
    out = [_series(a) for a in arrays.values()]
    if len({a.size for a in out}) > 1:
        sizes = ", ".join(f"{k}={a.size}" for k, a in zip(arrays, out, strict=True))
        raise InvalidInputError(f"indicator inputs differ in length: {sizes}")
    return out


def _nans(n: int) -> FloatArray:
    return np.full(n, np.nan, dtype=np.float64)


def _to_json(arr: FloatArray) -> list[float | None]:
    values: list[float | None] = arr.tolist()
    for i in np.flatnonzero(~np.isfinite(arr)).tolist():
        values[i] = None
    return values


def _rolling_mean(x: FloatArray, period: int) -> FloatArray:
    # A window holding a NaN (e.g. another indicator's warm-up) averages to NaN, as it should.
    out = _nans(x.size)
    if x.size >= period:
        out[period - 1 :] = sliding_window_view(x, period).mean(axis=1)
    return out


def _ema(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    """EMA of ``x[start:]`` seeded at ``start + period - 1``; NaN before that."""
    out = _nans(x.size)
    first = start + period - 1
    if x.size <= first:
        return out
    seed = float(x[start : first + 1].mean())
    out[first] = seed
    out[first + 1 :] = _smooth(x[first + 1 :], 2.0 / (period + 1), seed)
    return out


def _wilder(x: FloatArray, period: int) -> FloatArray:
    """Wilder's running average of ``x`` from index ``period - 1`` on (seeded with the mean)."""
    seed = float(x[:period].mean())
    return np.concatenate(([seed], _smooth(x[period:], 1.0 / period, seed)))


# ln(1e100): a block is as long as the decay factor's powers stay within 1e±100.
_LN_POWER_LIMIT = 230.0


def _smooth(x: FloatArray, alpha: float, seed: float) -> FloatArray:
    """``y[i] = (1 - alpha) * y[i-1] + alpha * x[i]`` with ``y[-1] = seed``, without a Python
    loop per element.

    Unrolled, ``y[j] = r**(j+1) * (seed + alpha * sum_{i<=j} x[i] * r**-(i+1))`` with
    ``r = 1 - alpha``: one cumulative sum. The powers would overflow on long inputs, so the
    series is cut into blocks short enough for ``r**-len`` to stay finite, each block seeded
    with the previous block's last value.
    """
    out = np.empty_like(x)
    r = 1.0 - alpha
    block = max(1, int(_LN_POWER_LIMIT / -math.log(r)))
    prev = seed
    for lo in range(0, x.size, block):
        chunk = x[lo : lo + block]
        k = np.arange(1, chunk.size + 1, dtype=np.float64)
        y = np.power(r, k) * (prev + alpha * np.cumsum(chunk * np.power(r, -k)))
        out[lo : lo + chunk.size] = y
        prev = float(y[-1])
    return out
