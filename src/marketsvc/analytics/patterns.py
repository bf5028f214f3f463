"""Candlestick patterns with TA-Lib's ``CDL*`` definitions and outputs, in vectorised numpy.

Every function returns an int array of the input's length: +100 bullish, −100 bearish, 0 none
(engulfing and harami answer ±80 for the weaker forms, as TA-Lib does), and 0 over the warm-up
(TA-Lib's lookback). "Long", "short", "near" etc. are TA-Lib's default candle settings: a
candle's body, shadow or range compared with the average of the same measure over the
``period`` candles *before* it, times ``factor`` (period 0: the candle's own measure):

===============  =============  ======  ======
setting          measure        period  factor
===============  =============  ======  ======
BodyLong         real body      10      1.0
BodyShort        real body      10      1.0
BodyDoji         high − low     10      0.1
ShadowLong       real body      0       1.0
ShadowVeryShort  high − low     10      0.1
Near             high − low     5       0.2
Far              high − low     5       0.6
===============  =============  ======  ======

Equality with TA-Lib is the acceptance test, down to the last bit: TA-Lib keeps each average as
a running total (add the newest measure, subtract the oldest, starting from a plain sum at its
first window), and a comparison near a threshold can flip on the rounding of that total. The
totals here are the same additions in the same order (``np.cumsum`` is a sequential sum).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from marketsvc.analytics.stats import FloatArray
from marketsvc.errors import InvalidInputError

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# name: (measure, period, factor) — TA_CandleDefaultSettings
_SETTINGS: dict[str, tuple[str, int, float]] = {
    "BodyLong": ("body", 10, 1.0),
    "BodyShort": ("body", 10, 1.0),
    "BodyDoji": ("range", 10, 0.1),
    "ShadowLong": ("body", 0, 1.0),
    "ShadowVeryShort": ("range", 10, 0.1),
    "Near": ("range", 5, 0.2),
    "Far": ("range", 5, 0.6),
}
STAR_PENETRATION = 0.3  # TA-Lib's default optInPenetration for morning/evening star


class _Bars:
    """The measures TA-Lib's macros compute, as arrays, seen from candle ``i`` for every
    ``i >= lookback`` (``at(x, k)`` is ``x[i - k]`` for all those ``i`` at once)."""

    def __init__(
        self,
        open_: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        lookback: int,
    ) -> None:
        arrays = [np.asarray(a, dtype=np.float64) for a in (open_, high, low, close)]
        if any(a.ndim != 1 for a in arrays) or len({a.size for a in arrays}) > 1:
            raise InvalidInputError("open, high, low and close must be 1-D and equally long")
        self.o, self.h, self.l, self.c = arrays
        self.n = self.c.size
        self.lb = lookback
        white = self.c >= self.o
        self.color: IntArray = np.where(white, 1, -1).astype(np.int64)
        self.body = np.abs(self.c - self.o)
        self.top = np.where(white, self.c, self.o)  # max(open, close)
        self.bottom = np.where(white, self.o, self.c)  # min(open, close)
        self.upper = self.h - self.top
        self.lower = self.bottom - self.l
        self.range = self.h - self.l

    @property
    def empty(self) -> bool:
        return self.n <= self.lb

    def col(self, k: int = 0) -> IntArray:
        """The colour (+1 white, -1 black) of candle ``i - k``."""
        return self.color[self.lb - k : self.n - k]

    def f(self, x: FloatArray, k: int = 0) -> FloatArray:
        return x[self.lb - k : self.n - k]

    def avg(self, setting: str, k: int = 0) -> FloatArray:
        """TA_CANDLEAVERAGE(setting, total, i - k) for every i >= lookback."""
        measure, period, factor = _SETTINGS[setting]
        r = self._measure(measure)
        if period == 0:
            return factor * self.f(r, k) / 1.0
        j0 = self.lb - k  # the first candle this average is taken for
        first_total = np.cumsum(r[j0 - period : j0])[-1]
        deltas = r[j0 : self.n - k - 1] - r[j0 - period : self.n - k - 1 - period]
        totals = np.cumsum(np.concatenate(([first_total], deltas)))
        return factor * (totals / period) / 1.0

    def _measure(self, measure: str) -> FloatArray:
        if measure == "body":
            return self.body
        return self.range

    def out(self, mask: BoolArray, value: npt.ArrayLike) -> IntArray:
        result = np.zeros(self.n, dtype=np.int64)
        result[self.lb :] = np.where(mask, value, 0)
        return result


def _prepare(lookback: int, *ohlc: npt.ArrayLike) -> _Bars:
    o, h, lo, c = ohlc
    return _Bars(o, h, lo, c, lookback)


def cdl_doji(o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike) -> IntArray:
    """CDLDOJI: a real body at most a tenth of the average range."""
    b = _prepare(10, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    return b.out(b.f(b.body) <= b.avg("BodyDoji"), 100)


def cdl_hammer(o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike) -> IntArray:
    """CDLHAMMER: small body, lower shadow longer than the body, (almost) no upper shadow,
    body at or near the previous candle's low."""
    b = _prepare(11, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    mask = (
        (b.f(b.body) < b.avg("BodyShort"))
        & (b.f(b.lower) > b.avg("ShadowLong"))
        & (b.f(b.upper) < b.avg("ShadowVeryShort"))
        & (b.f(b.bottom) <= b.f(b.l, 1) + b.avg("Near", 1))
    )
    return b.out(mask, 100)


def cdl_inverted_hammer(
    o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike
) -> IntArray:
    """CDLINVERTEDHAMMER: small body gapping down, long upper shadow, (almost) no lower one."""
    b = _prepare(11, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    return b.out(_star_shape(b) & (b.f(b.top) < b.f(b.bottom, 1)), 100)


def cdl_shooting_star(
    o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike
) -> IntArray:
    """CDLSHOOTINGSTAR: the inverted hammer's shape gapping up; bearish."""
    b = _prepare(11, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    return b.out(_star_shape(b) & (b.f(b.bottom) > b.f(b.top, 1)), -100)


def _star_shape(b: _Bars) -> BoolArray:
    return (
        (b.f(b.body) < b.avg("BodyShort"))
        & (b.f(b.upper) > b.avg("ShadowLong"))
        & (b.f(b.lower) < b.avg("ShadowVeryShort"))
    )


def cdl_engulfing(
    o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike
) -> IntArray:
    """CDLENGULFING: a body of the other colour covering the previous body; ±100, or ±80
    when one end only touches the previous body's end."""
    b = _prepare(2, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    o0, c0, o1, c1 = b.f(b.o), b.f(b.c), b.f(b.o, 1), b.f(b.c, 1)
    col0, col1 = b.col(), b.col(1)
    bullish = (col0 == 1) & (col1 == -1) & (((c0 >= o1) & (o0 < c1)) | ((c0 > o1) & (o0 <= c1)))
    bearish = (col0 == -1) & (col1 == 1) & (((o0 >= c1) & (c0 < o1)) | ((o0 > c1) & (c0 <= o1)))
    strength = np.where((o0 != c1) & (c0 != o1), 100, 80)
    return b.out(bullish | bearish, col0 * strength)


def cdl_harami(o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike) -> IntArray:
    """CDLHARAMI: a long body, then a short one inside it; the sign is against the first
    candle's colour, ±100 strictly inside, ±80 when an end touches."""
    b = _prepare(11, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    shape = (b.f(b.body, 1) > b.avg("BodyLong", 1)) & (b.f(b.body) <= b.avg("BodyShort"))
    top0, top1, bot0, bot1 = b.f(b.top), b.f(b.top, 1), b.f(b.bottom), b.f(b.bottom, 1)
    inside = (top0 < top1) & (bot0 > bot1)
    touching = (top0 <= top1) & (bot0 >= bot1)
    value = -b.col(1) * np.where(inside, 100, 80)
    return b.out(shape & touching, value)


def cdl_morning_star(
    o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike
) -> IntArray:
    """CDLMORNINGSTAR: long black, short body gapping down, white closing well into the
    first body (penetration 0.3)."""
    b = _prepare(12, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    mask = (
        (b.f(b.body, 2) > b.avg("BodyLong", 2))
        & (b.col(2) == -1)
        & (b.f(b.body, 1) <= b.avg("BodyShort", 1))
        & (b.f(b.top, 1) < b.f(b.bottom, 2))
        & (b.f(b.body) > b.avg("BodyShort"))
        & (b.col() == 1)
        & (b.f(b.c) > b.f(b.c, 2) + b.f(b.body, 2) * STAR_PENETRATION)
    )
    return b.out(mask, 100)


def cdl_evening_star(
    o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike
) -> IntArray:
    """CDLEVENINGSTAR: long white, short body gapping up, black closing well into the first
    body (penetration 0.3)."""
    b = _prepare(12, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    mask = (
        (b.f(b.body, 2) > b.avg("BodyLong", 2))
        & (b.col(2) == 1)
        & (b.f(b.body, 1) <= b.avg("BodyShort", 1))
        & (b.f(b.bottom, 1) > b.f(b.top, 2))
        & (b.f(b.body) > b.avg("BodyShort"))
        & (b.col() == -1)
        & (b.f(b.c) < b.f(b.c, 2) - b.f(b.body, 2) * STAR_PENETRATION)
    )
    return b.out(mask, -100)


def cdl_three_white_soldiers(
    o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike
) -> IntArray:
    """CDL3WHITESOLDIERS: three white candles with very short upper shadows, each closing
    higher and opening within or near the previous body, none far shorter than the one
    before, the last not short."""
    b = _prepare(12, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    mask = np.ones(b.n - b.lb, dtype=bool)
    for k in (2, 1, 0):
        mask &= (b.col(k) == 1) & (b.f(b.upper, k) < b.avg("ShadowVeryShort", k))
    for k in (1, 0):
        mask &= (
            (b.f(b.c, k) > b.f(b.c, k + 1))
            & (b.f(b.o, k) > b.f(b.o, k + 1))
            & (b.f(b.o, k) <= b.f(b.c, k + 1) + b.avg("Near", k + 1))
            & (b.f(b.body, k) > b.f(b.body, k + 1) - b.avg("Far", k + 1))
        )
    mask &= b.f(b.body) > b.avg("BodyShort")
    return b.out(mask, 100)


def cdl_three_black_crows(
    o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike
) -> IntArray:
    """CDL3BLACKCROWS: after a white candle, three black ones with very short lower shadows,
    each opening inside the previous body and closing lower, the first closing under the
    white candle's high."""
    b = _prepare(13, o, h, lo, c)
    if b.empty:
        return np.zeros(b.n, dtype=np.int64)
    mask = (b.col(3) == 1) & (b.f(b.h, 3) > b.f(b.c, 2))
    for k in (2, 1, 0):
        mask &= (b.col(k) == -1) & (b.f(b.lower, k) < b.avg("ShadowVeryShort", k))
    for k in (1, 0):
        mask &= (
            (b.f(b.o, k) < b.f(b.o, k + 1))
            & (b.f(b.o, k) > b.f(b.c, k + 1))
            & (b.f(b.c, k + 1) > b.f(b.c, k))
        )
    return b.out(mask, -100)


PatternFn = Callable[[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike], IntArray]


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    talib: str
    fn: PatternFn


PATTERNS: dict[str, Pattern] = {
    p.name: p
    for p in (
        Pattern("doji", "CDLDOJI", cdl_doji),
        Pattern("hammer", "CDLHAMMER", cdl_hammer),
        Pattern("inverted_hammer", "CDLINVERTEDHAMMER", cdl_inverted_hammer),
        Pattern("shooting_star", "CDLSHOOTINGSTAR", cdl_shooting_star),
        Pattern("engulfing", "CDLENGULFING", cdl_engulfing),
        Pattern("harami", "CDLHARAMI", cdl_harami),
        Pattern("morning_star", "CDLMORNINGSTAR", cdl_morning_star),
        Pattern("evening_star", "CDLEVENINGSTAR", cdl_evening_star),
        Pattern("three_white_soldiers", "CDL3WHITESOLDIERS", cdl_three_white_soldiers),
        Pattern("three_black_crows", "CDL3BLACKCROWS", cdl_three_black_crows),
    )
}


def detect_all(
    o: npt.ArrayLike, h: npt.ArrayLike, lo: npt.ArrayLike, c: npt.ArrayLike
) -> dict[str, IntArray]:
    """Every pattern's signal series, by name."""
    return {name: p.fn(o, h, lo, c) for name, p in PATTERNS.items()}
