"""Technical indicators computed locally from stored history (pure numpy, TA-Lib conventions)."""

from marketsvc.analytics.indicators import (
    INDICATORS,
    MAX_PERIOD,
    MIN_PERIOD,
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

__all__ = [
    "INDICATORS",
    "MAX_PERIOD",
    "MIN_PERIOD",
    "atr",
    "bbands",
    "compute",
    "ema",
    "macd",
    "obv",
    "rsi",
    "sma",
    "stoch",
    "true_range",
    "vwap",
]
