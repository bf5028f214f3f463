"""Analytics computed locally from stored history: pure numpy functions, no I/O.

``indicators`` (technical indicators, TA-Lib conventions), ``stats`` (returns, volatility,
drawdown, Sharpe, beta, correlation), ``align`` (stock and crypto calendars side by side),
``patterns`` (candlesticks, TA-Lib ``CDL*`` definitions), ``levels`` (support/resistance),
``anomalies`` (robust z-scores) and ``sentiment`` (news scores per article and per day).
"""

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
