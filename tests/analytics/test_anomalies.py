"""Anomaly detection: injected spikes are found (with what, how much, which window), a calm
series raises nothing."""

from __future__ import annotations

import numpy as np
import pytest

from marketsvc.analytics.anomalies import DEFAULT_WINDOW, detect, robust_z
from marketsvc.errors import InvalidInputError
from tests.analytics.synthetic import candles


@pytest.mark.parametrize("seed", range(20))
def test_a_calm_series_has_no_anomalies(seed: int) -> None:
    o, h, lo, c, v = candles(1000, seed=seed)
    assert detect(o, h, lo, c, v) == []


def _shift_from(arrays: tuple[np.ndarray, ...], start: int, factor: float) -> None:
    for a in arrays:
        a[start:] *= factor


def test_injected_spikes_are_all_found_and_described() -> None:
    o, h, lo, c, v = (x.copy() for x in candles(1000, seed=5))
    # A +12 % day at 300: the close jumps, everything after follows.
    jump = c[299] * 1.12 / c[300]
    c[300] *= jump
    h[300] = max(h[300] * jump, c[300])
    _shift_from((o, h, lo, c), 301, jump)
    v[500] *= 12.0  # a twelvefold volume day
    # A 10 % opening gap up at 700, clear of the previous range.
    factor = c[699] * 1.10 / o[700]
    _shift_from((o, h, lo, c), 700, factor)
    lo[700] = max(lo[700], h[699] * 1.001)
    h[700] = max(h[700], lo[700], o[700], c[700])
    found = {(a.kind, a.index): a for a in detect(o, h, lo, c, v)}
    assert ("return", 300) in found
    assert ("volume", 500) in found
    assert ("gap", 700) in found
    extra = set(found) - {("return", 300), ("volume", 500), ("gap", 700), ("return", 700)}
    assert not extra, f"false positives: {sorted(extra)}"
    ret = found[("return", 300)]
    assert ret.value == pytest.approx(0.12) and ret.score > 6
    assert (ret.window_start, ret.window_end) == (300 - DEFAULT_WINDOW, 299)
    vol = found[("volume", 500)]
    assert vol.value / vol.median > 8
    assert found[("gap", 700)].value == pytest.approx(0.10)


def test_robust_z_by_hand() -> None:
    # Window [1, 2, 3, ..., 10]: median 5.5, MAD 2.5, scale 1.4826 * 2.5.
    x = np.array([*range(1, 11), 20.0])
    rz = robust_z(x, 10)
    assert np.isnan(rz.z[:10]).all()
    assert rz.median[10] == 5.5
    assert rz.z[10] == pytest.approx((20 - 5.5) / (1.4826 * 2.5))


def test_a_flat_window_makes_any_move_infinitely_unusual() -> None:
    x = np.array([1.0] * 10 + [1.0, 1.5])
    rz = robust_z(x, 10)
    assert rz.z[10] == 0.0 and np.isinf(rz.z[11])


def test_bad_windows_are_refused() -> None:
    o, h, lo, c, v = candles(100, seed=1)
    with pytest.raises(InvalidInputError):
        detect(o, h, lo, c, v, window=5)
    with pytest.raises(InvalidInputError):
        detect(o, h, lo, c, v, window=1000)
