"""Indicator series for the chart's studies, computed by ``marketsvc.analytics`` over every
bar given (the warm-up bars included) and then cut to the visible bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from marketsvc.analytics import bbands, ema, macd, rsi, sma
from marketsvc.analytics.indicators import FloatArray
from marketsvc.charts.spec import Study
from marketsvc.domain import Candle


def study_series(study: Study, candles: Sequence[Candle], visible: int) -> dict[str, FloatArray]:
    """Series name → values for the last ``visible`` bars (NaN where still warming up)."""
    close = np.fromiter((c.close for c in candles), dtype=np.float64, count=len(candles))
    if study.name == "sma":
        out = {"value": sma(close, study.period)}
    elif study.name == "ema":
        out = {"value": ema(close, study.period)}
    elif study.name == "bbands":
        upper, middle, lower = bbands(close, study.period)
        out = {"upper": upper, "middle": middle, "lower": lower}
    elif study.name == "rsi":
        out = {"value": rsi(close, study.period)}
    else:
        line, signal, hist = macd(close)
        out = {"macd": line, "signal": signal, "hist": hist}
    return {name: values[len(values) - visible :] for name, values in out.items()}
