"""Statistics against pandas (the reference) on a seeded 1,000-candle series, to 1e-10
relative."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marketsvc.analytics import stats
from tests.analytics.synthetic import candles

RTOL = 1e-10


@pytest.fixture(scope="module")
def close() -> np.ndarray:
    return candles(1000, seed=17)[3]


@pytest.fixture(scope="module")
def bench() -> np.ndarray:
    return candles(1000, seed=99)[3]


def _same(ours: np.ndarray, ref: pd.Series) -> None:
    np.testing.assert_allclose(ours, ref.to_numpy(dtype=np.float64), rtol=RTOL, atol=0.0)


def test_simple_and_log_returns_equal_pandas(close: np.ndarray) -> None:
    s = pd.Series(close)
    _same(stats.returns(close), s.pct_change())
    _same(stats.returns(close, "log"), np.log(s).diff())
    assert math.isclose(stats.total_return(close), s.iloc[-1] / s.iloc[0] - 1, rel_tol=RTOL)


@pytest.mark.parametrize(("ppy", "method"), [(252, "simple"), (365, "log")])
def test_volatility_equals_pandas(close: np.ndarray, ppy: int, method: str) -> None:
    r = stats.returns(close, method)  # type: ignore[arg-type]
    ref = pd.Series(r)
    assert math.isclose(stats.volatility(r, ppy), ref.std() * math.sqrt(ppy), rel_tol=RTOL)
    for window in (2, 20, 63):
        ours = stats.rolling_volatility(r, window, ppy)
        _same(ours, ref.rolling(window).std() * math.sqrt(ppy))
        assert np.isnan(ours[:window]).all() and np.isfinite(ours[window:]).all()


def test_drawdown_equals_pandas(close: np.ndarray) -> None:
    s = pd.Series(close)
    ref = s / s.cummax() - 1.0
    _same(stats.drawdown_series(close), ref)
    dd = stats.max_drawdown(close)
    trough = int(ref.idxmin())
    assert dd.trough == trough
    assert dd.peak == int(s.iloc[: trough + 1].idxmax())
    assert math.isclose(dd.depth, ref.min(), rel_tol=RTOL)
    later = s.iloc[trough:]
    recovered = later[later >= s.iloc[dd.peak]]
    assert dd.recovery == (int(recovered.index[0]) if len(recovered) else None)


@pytest.mark.parametrize("risk_free", [0.0, 0.04])
def test_sharpe_equals_pandas(close: np.ndarray, risk_free: float) -> None:
    r = pd.Series(stats.returns(close)).dropna()
    excess = r - risk_free / 252
    ref = excess.mean() / excess.std() * math.sqrt(252)
    assert math.isclose(stats.sharpe(r.to_numpy(), 252, risk_free), ref, rel_tol=RTOL)


def test_beta_and_correlation_equal_pandas(close: np.ndarray, bench: np.ndarray) -> None:
    a = pd.Series(stats.returns(close))
    b = pd.Series(stats.returns(bench))
    assert math.isclose(stats.beta(a.to_numpy(), b.to_numpy()), a.cov(b) / b.var(), rel_tol=RTOL)
    ours = stats.correlation(a.to_numpy(), b.to_numpy())
    assert math.isclose(ours, a.corr(b), rel_tol=RTOL)


def test_correlation_matrix_equals_pandas() -> None:
    closes = np.column_stack([candles(1000, seed=s)[3] for s in range(20)])
    rets = np.column_stack([stats.returns(closes[:, k]) for k in range(20)])
    ours = stats.correlation_matrix(rets)
    ref = pd.DataFrame(rets).corr().to_numpy(copy=True)
    np.fill_diagonal(ref, 1.0)
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-15)
    assert np.array_equal(ours, ours.T)
    assert np.array_equal(np.diag(ours), np.ones(20))
