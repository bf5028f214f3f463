"""Return statistics: pure, vectorised numpy functions over float64 arrays of closes.

Conventions (the public contract's, named in every answer):

* returns are simple (``c[i] / c[i-1] - 1``) unless ``method="log"`` (``ln(c[i] / c[i-1])``);
  as with the indicators, outputs keep the input's length and the warm-up is NaN (the first
  return, the first ``window`` rolling values);
* volatility is the sample standard deviation (``ddof=1``) of daily returns, annualised by
  ``sqrt(periods_per_year)``: 252 for stocks (trading days), 365 for crypto (24/7), as a
  fraction, not percent;
* Sharpe is ``mean(r - rf/ppy) / std(r - rf/ppy, ddof=1) * sqrt(ppy)`` with ``rf`` the annual
  risk-free rate as a fraction, spread evenly over the periods of a year;
* beta is ``cov(asset, benchmark) / var(benchmark)`` (both ``ddof=1``), correlation Pearson's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from marketsvc.domain import AssetClass
from marketsvc.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]
ReturnMethod = Literal["simple", "log"]

PERIODS_PER_YEAR: dict[AssetClass, int] = {AssetClass.STOCK: 252, AssetClass.CRYPTO: 365}
MAX_MATRIX_SYMBOLS = 20


def closes(values: npt.ArrayLike) -> FloatArray:
    """A one-dimensional float64 array of positive, finite prices (else InvalidInputError)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"prices are not numeric: {exc}") from exc
    if arr.ndim != 1:
        raise InvalidInputError(f"prices must be one-dimensional, got {arr.ndim} dims")
    if arr.size and not (np.isfinite(arr).all() and (arr > 0).all()):
        raise InvalidInputError("prices must be positive and finite")
    return arr


def returns(values: npt.ArrayLike, method: ReturnMethod = "simple") -> FloatArray:
    """Period returns; ``out[0]`` is NaN (no previous close)."""
    c = closes(values)
    out = np.full(c.size, np.nan)
    if c.size > 1:
        ratio = c[1:] / c[:-1]
        out[1:] = np.log(ratio) if method == "log" else ratio - 1.0
    return out


def total_return(values: npt.ArrayLike, method: ReturnMethod = "simple") -> float:
    c = closes(values)
    if c.size < 2:
        return math.nan
    ratio = float(c[-1] / c[0])
    return math.log(ratio) if method == "log" else ratio - 1.0


def volatility(rets: npt.ArrayLike, periods_per_year: int | None = None) -> float:
    """Sample standard deviation of the finite returns, annualised when ``periods_per_year``
    is given; NaN with fewer than two returns."""
    r = _finite(rets)
    if r.size < 2:
        return math.nan
    sd = float(r.std(ddof=1))
    return sd * math.sqrt(periods_per_year) if periods_per_year else sd


def rolling_volatility(
    rets: npt.ArrayLike, window: int, periods_per_year: int | None = None
) -> FloatArray:
    """Sample standard deviation over the last ``window`` returns at each position (annualised
    when ``periods_per_year`` is given); NaN wherever the window holds a NaN (the warm-up)."""
    r = np.asarray(rets, dtype=np.float64)
    if window < 2:
        raise InvalidInputError(f"window must be at least 2, got {window}")
    out = np.full(r.size, np.nan)
    if r.size >= window:
        out[window - 1 :] = sliding_window_view(r, window).std(axis=1, ddof=1)
    return out * math.sqrt(periods_per_year) if periods_per_year else out


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest fall from a running peak: ``depth`` ≤ 0 (a fraction), the positions of the
    peak and of the trough, and of the first close back at the peak (None: not yet)."""

    depth: float
    peak: int
    trough: int
    recovery: int | None


def drawdown_series(values: npt.ArrayLike) -> FloatArray:
    """``close / running peak - 1`` at each position (always ≤ 0)."""
    c = closes(values)
    if c.size == 0:
        return c.copy()
    return np.minimum(c / np.maximum.accumulate(c) - 1.0, 0.0)


def max_drawdown(values: npt.ArrayLike) -> Drawdown:
    c = closes(values)
    if c.size == 0:
        raise InvalidInputError("max drawdown needs at least one price")
    dd = drawdown_series(c)
    trough = int(np.argmin(dd))
    peak = int(np.argmax(c[: trough + 1]))
    after = np.flatnonzero(c[trough:] >= c[peak])
    recovery = int(trough + after[0]) if trough > peak and after.size else None
    return Drawdown(float(dd[trough]), peak, trough, recovery)


def sharpe(rets: npt.ArrayLike, periods_per_year: int, risk_free: float = 0.0) -> float:
    """Annualised Sharpe ratio of the finite returns; NaN when they do not vary."""
    if not math.isfinite(risk_free) or not -1.0 < risk_free < 1.0:
        raise InvalidInputError("risk_free is an annual rate as a fraction, in (-1, 1)")
    excess = _finite(rets) - risk_free / periods_per_year
    if excess.size < 2:
        return math.nan
    sd = float(excess.std(ddof=1))
    if sd == 0.0:
        return math.nan
    return float(excess.mean()) / sd * math.sqrt(periods_per_year)


def beta(asset: npt.ArrayLike, benchmark: npt.ArrayLike) -> float:
    a, b = _pair(asset, benchmark)
    if a.size < 2:
        return math.nan
    var = float(b.var(ddof=1))
    if var == 0.0:
        return math.nan
    cov = float(((a - a.mean()) * (b - b.mean())).sum() / (a.size - 1))
    return cov / var


def correlation(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    x, y = _pair(a, b)
    if x.size < 2:
        return math.nan
    return float(correlation_matrix(np.column_stack((x, y)))[0, 1])


def correlation_matrix(rets: npt.ArrayLike) -> FloatArray:
    """Pearson correlations between the columns of ``rets`` (observations × symbols), over the
    rows where every column is finite. Symmetric with a unit diagonal by construction; a
    column that does not vary correlates NaN with the others (and 1 with itself)."""
    m = np.asarray(rets, dtype=np.float64)
    if m.ndim != 2:
        raise InvalidInputError("correlation needs a 2-D array (observations × symbols)")
    k = m.shape[1]
    if k > MAX_MATRIX_SYMBOLS:
        raise InvalidInputError(f"a correlation matrix covers at most {MAX_MATRIX_SYMBOLS} symbols")
    m = m[np.isfinite(m).all(axis=1)]
    out = np.full((k, k), np.nan)
    if m.shape[0] >= 2:
        centred = m - m.mean(axis=0)
        norms = np.sqrt((centred * centred).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (centred.T @ centred) / np.outer(norms, norms)
        out = np.clip((out + out.T) / 2.0, -1.0, 1.0)
    np.fill_diagonal(out, 1.0)
    return out


def _finite(values: npt.ArrayLike) -> FloatArray:
    r = np.asarray(values, dtype=np.float64)
    return r[np.isfinite(r)]


def _pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InvalidInputError("the two return series must be aligned (same length)")
    both = np.isfinite(x) & np.isfinite(y)
    return x[both], y[both]
