"""Known answers computed by hand (working in the comments), warm-up and parameter checks."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from marketsvc.analytics import (
    INDICATORS,
    atr,
    bbands,
    compute,
    ema,
    macd,
    obv,
    rsi,
    sma,
    stoch,
    true_range,
    vwap,
)
from marketsvc.domain import Candle
from marketsvc.errors import InvalidInputError

NAN = math.nan


def close_to(actual: np.ndarray, expected: list[float]) -> None:
    np.testing.assert_allclose(actual, np.array(expected), rtol=1e-12, atol=0, equal_nan=True)


def test_sma_period_3() -> None:
    # (1+2+3)/3 = 2, (2+3+4)/3 = 3, ...
    close_to(sma([1, 2, 3, 4, 5, 6], 3), [NAN, NAN, 2, 3, 4, 5])


def test_ema_period_3_seeded_with_the_first_sma() -> None:
    # alpha = 2/(3+1) = 0.5; seed = mean(2, 4, 6) = 4 at index 2
    # i3: 4 + 0.5*(8-4) = 6; i4: 6 + 0.5*(12-6) = 9; i5: 9 + 0.5*(14-9) = 11.5;
    # i6: 11.5 + 0.5*(10-11.5) = 10.75
    close_to(ema([2, 4, 6, 8, 12, 14, 10], 3), [NAN, NAN, 4, 6, 9, 11.5, 10.75])


def test_rsi_wilder_period_3() -> None:
    # diffs: +1, -0.5, +1.5, +1, -1, +0.5
    # i3: avg gain (1+0+1.5)/3 = 5/6, avg loss 0.5/3 = 1/6 -> 100 * (5/6) / 1 = 83.33
    # i4 (+1):   gain (2*5/6 + 1)/3 = 8/9,    loss (2*1/6)/3 = 1/9     -> 800/9
    # i5 (-1):   gain (2*8/9)/3 = 16/27,      loss (2/9 + 1)/3 = 11/27 -> 1600/27
    # i6 (+0.5): gain (32/27 + 1/2)/3 = 91/162, loss 22/81 = 44/162    -> 100*91/135
    close_to(
        rsi([10, 11, 10.5, 12, 13, 12, 12.5], 3),
        [NAN, NAN, NAN, 250 / 3, 800 / 9, 1600 / 27, 9100 / 135],
    )


def test_rsi_of_a_flat_series_is_zero_like_ta_lib() -> None:
    assert rsi([5.0] * 6, 3)[3:].tolist() == [0.0, 0.0, 0.0]


def test_macd_uses_ta_libs_seeding() -> None:
    # fast 2 (alpha 2/3), slow 3 (alpha 1/2), signal 2; x = 1, 2, 4, 7, 11, 16
    # slow EMA seeded at i2 with mean(1,2,4) = 7/3; the fast one ALSO at i2 with mean(2,4) = 3
    # line i2 = 2/3; i3: slow (7/3+7)/2 = 14/3, fast 3/3 + 2*7/3 = 17/3 -> line 1
    # i4: slow (14/3+11)/2 = 47/6, fast 17/9 + 22/3 = 83/9 -> 25/18
    # i5: slow (47/6+16)/2 = 143/12, fast 83/27 + 32/3 = 371/27 -> 197/108
    # signal seeded at i3 with mean(2/3, 1) = 5/6; i4: 5/18 + 2/3*25/18 = 65/54;
    # i5: 65/162 + 2/3*197/108 = 131/81. All three start at i3 = (3-1) + (2-1).
    line, sig, hist = macd([1, 2, 4, 7, 11, 16], fast=2, slow=3, signal=2)
    close_to(line, [NAN, NAN, NAN, 1, 25 / 18, 197 / 108])
    close_to(sig, [NAN, NAN, NAN, 5 / 6, 65 / 54, 131 / 81])
    close_to(hist, [NAN, NAN, NAN, 1 / 6, 25 / 18 - 65 / 54, 197 / 108 - 131 / 81])


def test_bbands_population_std() -> None:
    # window (1,2,3): mean 2, var (1+0+1)/3 = 2/3; window (3,4,6): mean 13/3,
    # deviations -4/3, -1/3, 5/3 -> var (16+1+25)/27 = 14/9
    upper, middle, lower = bbands([1, 2, 3, 4, 6], 3, 2.0)
    sd = [NAN, NAN, math.sqrt(2 / 3), math.sqrt(2 / 3), math.sqrt(14) / 3]
    mid = [NAN, NAN, 2, 3, 13 / 3]
    close_to(middle, mid)
    close_to(upper, [m + 2 * s for m, s in zip(mid, sd, strict=True)])
    close_to(lower, [m - 2 * s for m, s in zip(mid, sd, strict=True)])


HIGH = [10, 11, 12, 11, 13]
LOW = [9, 10, 10, 9, 11]
CLOSE = [9.5, 10.5, 11, 10, 12.5]


def test_true_range_and_atr() -> None:
    # TR1 = max(1, |11-9.5|, |10-9.5|) = 1.5; TR2 = max(2, 1.5, 0.5) = 2;
    # TR3 = max(2, 0, 2) = 2; TR4 = max(2, |13-10|, |11-10|) = 3
    close_to(true_range(HIGH, LOW, CLOSE), [NAN, 1.5, 2, 2, 3])
    # ATR3 = (1.5+2+2)/3 = 11/6; ATR4 = (2*11/6 + 3)/3 = 20/9
    close_to(atr(HIGH, LOW, CLOSE, 3), [NAN, NAN, NAN, 11 / 6, 20 / 9])


def test_slow_stochastic() -> None:
    h, lo, c = [5, 6, 7, 8, 7, 6], [1, 2, 3, 4, 3, 2], [3, 5, 6, 7, 4, 3]
    # fast %K (3): i2 (6-1)/(7-1) = 5/6, i3 (7-2)/(8-2) = 5/6, i4 (4-3)/(8-3) = 1/5,
    # i5 (3-2)/(8-2) = 1/6 (x100); slow %K (2): i3 83.3, i4 155/3, i5 55/3;
    # slow %D (2): i4 (250/3+155/3)/2 = 67.5, i5 (155/3+55/3)/2 = 35; both start at 2+1+1 = 4
    k, d = stoch(h, lo, c, 3, 2, 2)
    close_to(k, [NAN, NAN, NAN, NAN, 155 / 3, 55 / 3])
    close_to(d, [NAN, NAN, NAN, NAN, 67.5, 35])


def test_vwap_cumulative() -> None:
    # typical prices 1 and 3; (1*10 + 3*30) / 40 = 2.5
    close_to(vwap([2, 4], [0, 2], [1, 3], [10, 30]), [1, 2.5])
    assert math.isnan(vwap([2], [0], [1], [0])[0])  # nothing traded yet


def test_obv() -> None:
    # +200 (up), 0 (flat), -400 (down), +500 (up), starting from the first volume
    close_to(obv([10, 11, 11, 9, 12], [100, 200, 300, 400, 500]), [100, 300, 300, -100, 400])


def test_too_short_input_is_all_nan_never_zero() -> None:
    assert np.isnan(sma([1.0, 2.0], 3)).all()
    assert np.isnan(ema([1.0, 2.0, 3.0], 4)).all()
    assert np.isnan(rsi([1.0, 2.0, 3.0], 3)).all()
    assert all(np.isnan(s).all() for s in macd(list(range(33))))
    assert not np.isnan(macd(list(range(34)))[0][33])


@pytest.mark.parametrize("period", [1, 501, 0, -3, 2.5, True, "14"])
def test_invalid_period_is_rejected(period: object) -> None:
    with pytest.raises(InvalidInputError):
        sma([1.0] * 10, period)  # type: ignore[arg-type]


def test_other_invalid_inputs() -> None:
    with pytest.raises(InvalidInputError):
        macd([1.0] * 50, fast=26, slow=12)
    with pytest.raises(InvalidInputError):
        bbands([1.0] * 50, 5, k=0)
    with pytest.raises(InvalidInputError):
        atr([1.0, 2.0], [1.0], [1.0, 2.0], 2)
    with pytest.raises(InvalidInputError):
        sma([[1.0, 2.0]], 2)
    with pytest.raises(InvalidInputError):
        sma(["a", "b"], 2)


def _candles(n: int) -> list[Candle]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        Candle(t0 + timedelta(days=i), 10 + i, 11 + i + (i % 3), 9 + i, 10 + i + (i % 2), 100.0 + i)
        for i in range(n)
    ]


def test_compute_shapes_and_none_for_warm_up() -> None:
    candles = _candles(40)
    out = compute(["RSI", "macd", "bbands", "stoch", "sma", "sma"], candles, period=5)
    assert list(out) == ["rsi", "macd", "bbands", "stoch", "sma"]
    assert set(out["macd"]) == {"macd", "signal", "hist"}
    assert set(out["bbands"]) == {"upper", "middle", "lower"}
    assert set(out["stoch"]) == {"k", "d"}
    rsi_values = out["rsi"]["value"]
    assert len(rsi_values) == 40
    assert rsi_values[:5] == [None] * 5 and all(isinstance(v, float) for v in rsi_values[5:])
    closes = [c.close for c in candles]
    assert out["sma"]["value"][4] == pytest.approx(sum(closes[:5]) / 5)
    assert out["bbands"]["middle"] == out["sma"]["value"]


def test_compute_every_indicator_and_missing_volume() -> None:
    candles = _candles(30)
    candles[3] = Candle(candles[3].ts, 1, 2, 0.5, 1.5, None)
    out = compute(INDICATORS, candles, period=3)
    assert set(out) == set(INDICATORS)
    assert out["obv"]["value"][2] is not None and out["obv"]["value"][3] is None
    assert out["vwap"]["value"][3] is None
    assert out["atr"]["value"][3] is not None


def test_compute_rejects_unknown_names_and_bad_period() -> None:
    with pytest.raises(InvalidInputError, match="adx"):
        compute(["rsi", "adx"], _candles(5))
    with pytest.raises(InvalidInputError):
        compute(["rsi"], _candles(5), period=1000)
