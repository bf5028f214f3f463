"""The data of each analytics answer, computed from loaded candles with ``analytics/`` (pure:
no I/O here, so the answers can be checked against a reference directly)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from marketsvc.analytics import anomalies as anomaly_lib
from marketsvc.analytics import stats
from marketsvc.analytics.align import align_on_dates, explain
from marketsvc.analytics.levels import Level, support_resistance
from marketsvc.analytics.patterns import PATTERNS
from marketsvc.analytics.stats import FloatArray, ReturnMethod
from marketsvc.errors import InvalidInputError
from marketsvc.orchestrator.analysis_input import SymbolBars

KINDS = ("returns", "volatility", "drawdown", "sharpe", "beta", "correlation")
VOLATILITY = (
    "sample standard deviation (ddof 1) of daily returns, annualised by sqrt(252) for stocks "
    "and sqrt(365) for crypto, as a fraction"
)


def convention(kind: str, method: ReturnMethod, **extra: Any) -> dict[str, Any]:
    """The conventions an answer used, stated in the answer."""
    out: dict[str, Any] = {
        "days": "calendar days back from now",
        "candles": "daily",
        "returns": method,
        "warm_up": "null where a value needs more history than the range holds",
    }
    if kind in ("volatility", "sharpe"):
        out["volatility"] = VOLATILITY
    if kind == "sharpe":
        out["sharpe"] = "mean(r - rf/ppy) / std(r - rf/ppy, ddof 1) * sqrt(ppy)"
    if kind == "beta":
        out["beta"] = "cov(asset, benchmark) / var(benchmark), ddof 1, on aligned returns"
    if kind == "drawdown":
        out["drawdown"] = "close / running peak close - 1 (a fraction, <= 0)"
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def per_symbol(
    kind: str, b: SymbolBars, method: ReturnMethod, window: int, risk_free: float
) -> dict[str, Any]:
    close = b.column("close")
    r = stats.returns(close, method)
    ppy = b.periods_per_year
    row: dict[str, Any] = {
        "symbol": b.inst.symbol,
        "asset_class": b.inst.asset_class.value,
        "periods_per_year": ppy,
        "observations": int(np.isfinite(r).sum()),
    }
    if kind == "returns":
        row["total_return"] = _num(stats.total_return(close, method))
        row["mean_return"] = _num(float(np.nanmean(r)) if r.size > 1 else math.nan)
        row["timestamps"] = [b.ts(i) for i in range(len(b.candles))]
        row["series"] = _json(r)
    elif kind == "volatility":
        if window >= r.size:
            raise InvalidInputError(
                f"window {window} needs more than {window} daily candles; "
                f"{b.inst.symbol} has {r.size} in the range"
            )
        row["volatility_daily"] = _num(stats.volatility(r))
        row["volatility_annualised"] = _num(stats.volatility(r, ppy))
        row["window"] = window
        row["timestamps"] = [b.ts(i) for i in range(len(b.candles))]
        row["series"] = _json(stats.rolling_volatility(r, window, ppy))
    elif kind == "drawdown":
        dd = stats.max_drawdown(close)
        row["max_drawdown"] = dd.depth
        row["peak"] = {"ts": b.ts(dd.peak), "close": float(close[dd.peak])}
        row["trough"] = {"ts": b.ts(dd.trough), "close": float(close[dd.trough])}
        row["recovered_at"] = b.ts(dd.recovery) if dd.recovery is not None else None
        row["timestamps"] = [b.ts(i) for i in range(len(b.candles))]
        row["series"] = _json(stats.drawdown_series(close))
    else:  # sharpe
        row["sharpe"] = _num(stats.sharpe(r, ppy, risk_free))
        row["mean_return_annualised"] = _num(float(np.nanmean(r)) * ppy)
        row["volatility_annualised"] = _num(stats.volatility(r, ppy))
        row["risk_free"] = risk_free
    return row


def beta_rows(
    bars: Sequence[SymbolBars], benchmarks: dict[str, SymbolBars], method: ReturnMethod
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each symbol against its benchmark, on the dates both have; and the alignment notes."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for b in bars:
        bench = benchmarks[b.key]
        aligned = align_on_dates(
            {
                b.key: (b.dates, b.column("close").tolist()),
                bench.key: (bench.dates, bench.column("close").tolist()),
            }
        )
        if len(aligned.dates) < 3:
            raise InvalidInputError(
                f"{b.inst.symbol} and {bench.inst.symbol} share {len(aligned.dates)} dates; "
                "at least 3 needed"
            )
        ra = stats.returns(aligned.closes[:, 0], method)
        rb = stats.returns(aligned.closes[:, 1], method)
        classes = [b.inst.asset_class.value, bench.inst.asset_class.value]
        notes.append(f"{b.inst.symbol} vs {bench.inst.symbol}: {explain(classes, aligned)}")
        rows.append(
            {
                "symbol": b.inst.symbol,
                "asset_class": b.inst.asset_class.value,
                "benchmark": bench.inst.symbol,
                "beta": _num(stats.beta(ra, rb)),
                "correlation": _num(stats.correlation(ra, rb)),
                "observations": len(aligned.dates) - 1,
                "from": aligned.dates[0].isoformat(),
                "to": aligned.dates[-1].isoformat(),
            }
        )
    return rows, notes


def correlation_data(bars: Sequence[SymbolBars], method: ReturnMethod) -> dict[str, Any]:
    aligned = align_on_dates({b.key: (b.dates, b.column("close").tolist()) for b in bars})
    if len(aligned.dates) < 3:
        raise InvalidInputError(
            f"the symbols share {len(aligned.dates)} dates in the range; at least 3 needed"
        )
    rets = np.column_stack([stats.returns(aligned.closes[:, k], method) for k in range(len(bars))])[
        1:
    ]
    matrix = stats.correlation_matrix(rets)
    return {
        "symbols": [b.inst.symbol for b in bars],
        "matrix": [_json(row) for row in matrix],
        "observations": int(rets.shape[0]),
        "from": aligned.dates[0].isoformat(),
        "to": aligned.dates[-1].isoformat(),
        "alignment": explain([b.inst.asset_class.value for b in bars], aligned),
        "dropped_candles": {b.inst.symbol: aligned.dropped[b.key] for b in bars},
    }


def patterns_data(b: SymbolBars, swing: int) -> dict[str, Any]:
    o, h, lo, c = (b.column(n) for n in ("open", "high", "low", "close"))
    found: dict[str, Any] = {}
    for name, p in PATTERNS.items():
        signal = p.fn(o, h, lo, c)
        hits = np.flatnonzero(signal).tolist()
        found[name] = {
            "talib": p.talib,
            "count": len(hits),
            "signals": [{"ts": b.ts(i), "value": int(signal[i])} for i in hits],
        }
    support, resistance = support_resistance(h, lo, c, k=swing)
    return {
        "symbol": b.inst.symbol,
        "asset_class": b.inst.asset_class.value,
        "patterns": found,
        "levels": {
            "last_close": float(c[-1]),
            "swing_width": swing,
            "support": [_level(b, lv) for lv in support],
            "resistance": [_level(b, lv) for lv in resistance],
        },
        "candles_used": b.used(),
    }


def _level(b: SymbolBars, lv: Level) -> dict[str, Any]:
    return {
        "price": lv.price,
        "touches": lv.touches,
        "first": b.ts(lv.first),
        "last": b.ts(lv.last),
    }


_WHAT = {"return": "close-to-close return", "volume": "volume", "gap": "opening gap"}


def anomalies_data(b: SymbolBars, window: int, threshold: float) -> list[dict[str, Any]]:
    o, h, lo, c, v = (b.column(n) for n in ("open", "high", "low", "close", "volume"))
    out: list[dict[str, Any]] = []
    for a in anomaly_lib.detect(o, h, lo, c, v, window=window, threshold=threshold):
        direction = "above" if a.score > 0 else "below"
        if a.kind == "volume":
            by_how_much = f"{a.value / a.median:.1f}x the window's median volume {a.median:.6g}"
        else:
            by_how_much = f"{a.value:+.2%} against a median of {a.median:+.2%}"
        out.append(
            {
                "kind": a.kind,
                "ts": b.ts(a.index),
                "value": a.value,
                "score": _num(a.score),
                "threshold": threshold,
                "median": a.median,
                "scale": a.scale,
                "window": {
                    "observations": window,
                    "from": b.ts(a.window_start),
                    "to": b.ts(a.window_end),
                },
                "description": (
                    f"{_WHAT[a.kind]} {by_how_much}: robust z {a.score:+.1f} ({direction}), "
                    f"over the previous {window} candles"
                ),
            }
        )
    return out


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _json(arr: FloatArray) -> list[float | None]:
    values: list[float | None] = arr.tolist()
    for i in np.flatnonzero(~np.isfinite(arr)).tolist():
        values[i] = None
    return values
