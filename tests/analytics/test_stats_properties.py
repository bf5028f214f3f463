"""Properties of the statistics that hold for any prices."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from marketsvc.analytics import stats

prices = arrays(
    np.float64,
    st.integers(min_value=2, max_value=200),
    elements=st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False),
)


@given(st.floats(min_value=1e-6, max_value=1e9), st.integers(min_value=3, max_value=300))
def test_a_constant_series_has_zero_volatility(price: float, n: int) -> None:
    r = stats.returns(np.full(n, price))
    assert stats.volatility(r, 252) == 0.0
    rolling = stats.rolling_volatility(r, 2, 365)
    assert np.all(rolling[2:] == 0.0)
    assert stats.max_drawdown(np.full(n, price)).depth == 0.0


@given(prices)
def test_drawdown_is_never_positive_and_the_max_is_the_minimum(values: np.ndarray) -> None:
    series = stats.drawdown_series(values)
    assert np.all(series <= 0.0) and np.all(series >= -1.0)
    dd = stats.max_drawdown(values)
    assert dd.depth == series.min() and dd.peak <= dd.trough


@settings(max_examples=50)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(3, 40), st.integers(2, 20)),
        elements=st.floats(min_value=-0.5, max_value=0.5, allow_nan=False),
    )
)
def test_correlation_matrix_is_symmetric_with_unit_diagonal(rets: np.ndarray) -> None:
    m = stats.correlation_matrix(rets)
    assert np.array_equal(m, m.T, equal_nan=True)
    assert np.all(np.diag(m) == 1.0)
    finite = m[np.isfinite(m)]
    assert np.all((finite >= -1.0) & (finite <= 1.0))
