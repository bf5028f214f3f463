"""Properties that must hold for any input (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from marketsvc.analytics import atr, bbands, ema, obv, rsi, sma, stoch

prices = st.lists(
    st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=120,
)
periods = st.integers(min_value=2, max_value=30)
fast = settings(max_examples=60, deadline=None)


@fast
@given(value=st.floats(min_value=-1e6, max_value=1e6), n=st.integers(1, 80), period=periods)
def test_averages_of_a_constant_are_the_constant(value: float, n: int, period: int) -> None:
    for out in (sma([value] * n, period), ema([value] * n, period)):
        assert out.shape == (n,)
        assert np.isnan(out[: period - 1]).all()
        np.testing.assert_allclose(out[period - 1 :], value, rtol=1e-12, atol=1e-9)


@fast
@given(values=prices, period=periods)
def test_rsi_stays_within_0_and_100(values: list[float], period: int) -> None:
    out = rsi(values, period)
    assert out.shape == (len(values),)
    assert np.isnan(out[:period]).all()
    body = out[period:]
    assert not np.isnan(body).any()
    assert ((body >= 0) & (body <= 100)).all()


@fast
@given(values=prices, period=periods)
def test_bollinger_middle_is_the_sma_and_bands_bracket_it(values: list[float], period: int) -> None:
    upper, middle, lower = bbands(values, period, 2.0)
    np.testing.assert_array_equal(middle, sma(values, period))
    ok = ~np.isnan(middle)
    assert (upper[ok] >= middle[ok]).all() and (middle[ok] >= lower[ok]).all()


@fast
@given(
    start=st.floats(1, 1000),
    steps=st.lists(st.floats(0.01, 10), min_size=1, max_size=60),
    volumes=st.lists(st.floats(0, 1e6), min_size=61, max_size=61),
)
def test_obv_never_falls_while_closes_rise(
    start: float, steps: list[float], volumes: list[float]
) -> None:
    closes = np.cumsum([start, *steps])
    out = obv(closes, volumes[: closes.size])
    assert (np.diff(out) >= 0).all()
    np.testing.assert_allclose(out[-1], sum(volumes[: closes.size]), rtol=1e-12)


@fast
@given(values=prices, spread=st.floats(0, 0.2), period=periods)
def test_stochastic_in_range_and_atr_non_negative(
    values: list[float], spread: float, period: int
) -> None:
    close = np.array(values)
    high, low = close * (1 + spread), close * (1 - spread)
    k, d = stoch(high, low, close, period, 3, 3)
    for series in (k, d):
        body = series[~np.isnan(series)]
        assert ((body >= 0) & (body <= 100 + 1e-9)).all()
    a = atr(high, low, close, period)
    assert (a[~np.isnan(a)] >= 0).all()
    assert np.isnan(a[:period]).all()
