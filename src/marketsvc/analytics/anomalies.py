"""Unusual candles: robust z-scores of returns, volume and opening gaps against a trailing window.

The robust z-score of ``x[i]`` is ``(x[i] - median) / scale`` over the ``window`` values
*before* ``i`` (the candle judged is never part of its own yardstick), with
``scale = 1.4826 × MAD`` (the median absolute deviation, scaled to match a normal standard
deviation), or ``1.2533 × mean absolute deviation`` where the MAD is 0 (a mostly flat window);
a window with no spread at all makes any move infinitely unusual. A median and MAD ignore the
outliers they are looking for, so one spike does not hide the next.

* returns: simple close-to-close returns;
* volume: ``ln(volume)`` (volume moves multiplicatively; a tenfold day is as unusual on any
  scale), reported as the volume and its multiple of the window's median;
* gaps: ``open[i] / close[i-1] - 1`` where the candle's range does not overlap the previous
  one's (a true gap), measured from the window's median gap but in units of the window's
  robust scale of *returns*: a gap is unusual when it is large for a whole day's move. (The
  gaps' own spread is no yardstick: near zero for 24/7 markets, and for a stock calendar a
  weekend gap would look infinitely unusual against quiet weekday opens.)

Positions without a full window of finite values (the warm-up) are never flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from marketsvc.analytics.stats import FloatArray
from marketsvc.errors import InvalidInputError

MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533
MIN_WINDOW, MAX_WINDOW = 10, 250
DEFAULT_WINDOW = 90
DEFAULT_THRESHOLD = 6.0


@dataclass(frozen=True, slots=True)
class RobustZ:
    """Per position: the score and the window's median and scale (NaN over the warm-up)."""

    z: FloatArray
    median: FloatArray
    scale: FloatArray


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str  # return | volume | gap
    index: int  # the candle's position
    value: float  # the observed return / volume / gap
    score: float  # robust z-score
    median: float  # the window's median (volume: in volume units)
    scale: float  # the window's robust scale (volume: of ln volume)
    window_start: int  # first position of the trailing window
    window_end: int  # last position of the trailing window (index - 1)


def robust_z(values: npt.ArrayLike, window: int = DEFAULT_WINDOW) -> RobustZ:
    x = np.asarray(values, dtype=np.float64)
    _check_window(window)
    n = x.size
    z, med, scale = (np.full(n, np.nan) for _ in range(3))
    if n <= window:
        return RobustZ(z, med, scale)
    windows = sliding_window_view(x[:-1], window)  # row j: the window before position j + w
    m = np.median(windows, axis=1)
    dev = np.abs(windows - m[:, None])
    s = MAD_TO_SIGMA * np.median(dev, axis=1)
    flat = s == 0.0
    s[flat] = MEAN_AD_TO_SIGMA * dev[flat].mean(axis=1)
    diff = x[window:] - m
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(s > 0.0, diff / s, np.where(diff == 0.0, 0.0, np.inf * np.sign(diff)))
    score[~np.isfinite(diff) | ~np.isfinite(s)] = np.nan
    z[window:], med[window:], scale[window:] = score, m, s
    return RobustZ(z, med, scale)


def detect(
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike | None = None,
    *,
    window: int = DEFAULT_WINDOW,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Anomaly]:
    """Every return, volume and gap whose robust |z| reaches ``threshold``, oldest first."""
    o, h, lo, c = (np.asarray(a, dtype=np.float64) for a in (open_, high, low, close))
    if not (o.size == h.size == lo.size == c.size):
        raise InvalidInputError("open, high, low and close must be equally long")
    if not threshold > 0:
        raise InvalidInputError("threshold must be positive")
    _check_window(window)
    n = c.size
    found: list[Anomaly] = []
    rets = np.full(n, np.nan)
    gaps = np.full(n, np.nan)
    if n > 1:
        rets[1:] = c[1:] / c[:-1] - 1.0
        gaps[1:] = o[1:] / c[:-1] - 1.0
    rets_z = robust_z(rets, window)
    found += _flag("return", rets_z, rets, window, threshold)
    gaps_z = robust_z(gaps, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap_score = (gaps - gaps_z.median) / rets_z.scale
    true_gap = np.zeros(n, dtype=bool)
    true_gap[1:] = (lo[1:] > h[:-1]) | (h[1:] < lo[:-1])
    gap_z = RobustZ(np.where(true_gap, gap_score, np.nan), gaps_z.median, rets_z.scale)
    found += _flag("gap", gap_z, gaps, window, threshold)
    if volume is not None:
        v = np.asarray(volume, dtype=np.float64)
        if v.size != n:
            raise InvalidInputError("volume must be as long as the prices")
        with np.errstate(divide="ignore", invalid="ignore"):
            logv = np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)
        found += _flag("volume", robust_z(logv, window), v, window, threshold, log_median=True)
    found.sort(key=lambda a: (a.index, a.kind))
    return found


def _flag(
    kind: str,
    rz: RobustZ,
    shown: FloatArray,
    window: int,
    threshold: float,
    *,
    log_median: bool = False,
) -> list[Anomaly]:
    with np.errstate(invalid="ignore"):
        hits = np.abs(rz.z) >= threshold
    out: list[Anomaly] = []
    for i in np.flatnonzero(hits).tolist():
        median = float(np.exp(rz.median[i])) if log_median else float(rz.median[i])
        out.append(
            Anomaly(
                kind,
                i,
                float(shown[i]),
                float(rz.z[i]),
                median,
                float(rz.scale[i]),
                i - window,
                i - 1,
            )
        )
    return out


def _check_window(window: int) -> None:
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise InvalidInputError(f"window must be from {MIN_WINDOW} to {MAX_WINDOW}, got {window}")
