"""Hand-computed answers on tiny series, the alignment of stock and crypto calendars, and the
input checks."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from marketsvc.analytics import stats
from marketsvc.analytics.align import align_on_dates, explain
from marketsvc.errors import InvalidInputError


def test_returns_of_a_tiny_series() -> None:
    r = stats.returns([100.0, 110.0, 99.0])
    assert math.isnan(r[0])
    assert r[1:].tolist() == pytest.approx([0.10, -0.10])
    log = stats.returns([100.0, 200.0], "log")
    assert log[1] == pytest.approx(math.log(2.0))
    assert stats.total_return([100.0, 110.0, 99.0]) == pytest.approx(-0.01)


def test_volatility_by_hand() -> None:
    # Returns 0.1 and -0.1: mean 0, sample variance (0.01 + 0.01) / 1 = 0.02.
    r = stats.returns([100.0, 110.0, 99.0])
    assert stats.volatility(r) == pytest.approx(math.sqrt(0.02))
    assert stats.volatility(r, 252) == pytest.approx(math.sqrt(0.02) * math.sqrt(252))
    assert stats.volatility(r, 365) == pytest.approx(math.sqrt(0.02 * 365))
    rolling = stats.rolling_volatility(r, 2)
    assert np.isnan(rolling[:2]).all() and rolling[2] == pytest.approx(math.sqrt(0.02))


def test_max_drawdown_with_its_dates() -> None:
    dd = stats.max_drawdown([100.0, 120.0, 90.0, 100.0, 130.0, 125.0])
    assert dd.depth == pytest.approx(90.0 / 120.0 - 1.0)  # -25 %
    assert (dd.peak, dd.trough, dd.recovery) == (1, 2, 4)
    never = stats.max_drawdown([100.0, 80.0, 90.0])
    assert (never.peak, never.trough, never.recovery) == (0, 1, None)
    rising = stats.max_drawdown([1.0, 2.0, 3.0])
    assert rising.depth == 0.0 and rising.recovery is None


def test_sharpe_beta_correlation_by_hand() -> None:
    r = np.array([np.nan, 0.01, 0.03])  # mean 0.02, sd sqrt(2e-4)
    assert stats.sharpe(r, 252) == pytest.approx(0.02 / math.sqrt(2e-4) * math.sqrt(252))
    with_rf = stats.sharpe(r, 252, 0.0252)  # 0.0001 per day
    assert with_rf == pytest.approx(0.0199 / math.sqrt(2e-4) * math.sqrt(252))
    bench = np.array([np.nan, 0.01, 0.02, 0.03])
    asset = 2.0 * bench + 0.001
    assert stats.beta(asset, bench) == pytest.approx(2.0)
    assert stats.correlation(asset, bench) == pytest.approx(1.0)
    assert stats.correlation(-asset, bench) == pytest.approx(-1.0)


def test_undefined_answers_are_nan_not_errors() -> None:
    flat = np.array([np.nan, 0.0, 0.0, 0.0])
    assert math.isnan(stats.sharpe(flat, 252))
    assert math.isnan(stats.beta(np.array([0.1, 0.2, 0.3]), np.zeros(3)))
    assert math.isnan(stats.volatility([0.1]))


def test_correlation_matrix_of_three_symbols() -> None:
    x = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    m = stats.correlation_matrix(np.column_stack((x, 2 * x, -x)))
    assert m == pytest.approx(np.array([[1, 1, -1], [1, 1, -1], [-1, -1, 1]]))
    assert np.array_equal(m, m.T)


def test_a_stock_and_a_crypto_are_aligned_on_shared_utc_dates() -> None:
    monday = date(2026, 1, 5)
    days = [monday + timedelta(days=i) for i in range(14)]
    weekdays = [d for d in days if d.weekday() < 5]
    aligned = align_on_dates(
        {
            "stock:AAPL": (weekdays, [100.0 + i for i in range(len(weekdays))]),
            "crypto:BTC": (days, [1000.0 + i for i in range(len(days))]),
        }
    )
    assert aligned.dates == weekdays
    assert aligned.dropped == {"stock:AAPL": 0, "crypto:BTC": 4}
    # Friday → Monday: the crypto close of Monday follows Friday's in the aligned series.
    friday = weekdays.index(date(2026, 1, 9))
    assert aligned.closes[friday + 1, 1] - aligned.closes[friday, 1] == 3.0
    assert "crypto every day" in explain(["stock", "crypto"], aligned)
    assert "crypto" not in explain(["stock", "stock"], aligned)


@pytest.mark.parametrize(
    "bad",
    [[1.0, -2.0], [1.0, float("nan")], [[1.0, 2.0]], ["a", "b"]],
)
def test_bad_prices_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError):
        stats.returns(bad)  # type: ignore[arg-type]


def test_bad_windows_and_too_many_symbols_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        stats.rolling_volatility(np.ones(10), 1)
    with pytest.raises(InvalidInputError):
        stats.correlation_matrix(np.ones((5, 21)))
    with pytest.raises(InvalidInputError):
        stats.sharpe(np.ones(5), 252, risk_free=1.5)
