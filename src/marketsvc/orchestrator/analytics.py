"""Analytics answers (statistics, candlestick patterns, anomalies) for the DataOrchestrator.

Every answer goes through the tiered cache like any other (a repeat is served without touching
the history store or a provider) and its candles come from the history store, so once a range
is stored an analytics answer costs no upstream call at all; anomaly answers add one
cross-provider price validation per symbol when asked to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from marketsvc.analytics import anomalies as anomaly_lib
from marketsvc.analytics.stats import ReturnMethod
from marketsvc.domain import AssetClass, DataType, Freshness, Priority
from marketsvc.errors import InvalidInputError, MarketsvcError
from marketsvc.orchestrator import analytics_data as build
from marketsvc.orchestrator.analysis_input import (
    Resolve,
    SymbolBars,
    cache_symbol,
    joined_source,
    load_bars,
    parse_symbols,
)
from marketsvc.orchestrator.answers import CachedAnswers, Envelope
from marketsvc.orchestrator.history_source import HistorySource
from marketsvc.orchestrator.usage import UsageTracker
from marketsvc.symbols import Instrument

DEFAULT_BENCHMARK = {AssetClass.STOCK: "SPY", AssetClass.CRYPTO: "BTC"}


Validate = Callable[[Instrument, Priority], Awaitable[dict[str, Any]]]


class Analytics:
    """Built by the DataOrchestrator from its parts (``validate``: its cross-provider price
    validation)."""

    def __init__(
        self,
        source: HistorySource,
        answers: CachedAnswers,
        usage: UsageTracker,
        validate: Validate,
        max_spread_pct: float,
        *,
        resolve: Resolve,
    ) -> None:
        self._resolve = resolve
        self._source = source
        self._answers = answers
        self._usage = usage
        self._validate = validate
        self._max_spread_pct = max_spread_pct

    async def _answer(
        self,
        data_type: DataType,
        insts: Sequence[Instrument],
        params: dict[str, object],
        load: Any,
        force_refresh: bool,
    ) -> Envelope:
        for inst in insts:
            self._usage.track(f"{inst.asset_class.value}:{inst.symbol}")
        return await self._answers.answer(
            data_type,
            cache_symbol(insts),
            params,
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )

    async def stats(
        self,
        kind: str,
        symbols: Sequence[str],
        *,
        days: int = 365,
        method: ReturnMethod = "simple",
        window: int = 20,
        risk_free: float = 0.0,
        benchmark: str | None = None,
        asset_class: AssetClass | None = None,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        """``kind`` ∈ returns volatility drawdown sharpe beta correlation."""
        if kind not in build.KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(build.KINDS)}")
        insts = parse_symbols(symbols, asset_class, self._resolve)
        if kind == "correlation" and len(insts) < 2:
            raise InvalidInputError("a correlation matrix needs at least 2 symbols")
        bench = self._resolve(benchmark, None) if benchmark else None
        start, end = self._source.range(None, None, days)

        async def load() -> tuple[dict[str, Any], str]:
            bars = await load_bars(self._source, insts, start, end, priority)
            data: dict[str, Any] = {"kind": kind, "days": days}
            used = list(bars)
            alignment: str | None = None
            if kind == "correlation":
                data["correlation"] = build.correlation_data(bars, method)
                alignment = data["correlation"]["alignment"]
            elif kind == "beta":
                benchmarks = await self._benchmarks(bars, bench, start, end, priority)
                rows, notes = build.beta_rows(bars, benchmarks, method)
                data["results"] = rows
                alignment = "; ".join(notes)
                keys = {b.key for b in used}
                extra = {b.key: b for b in benchmarks.values() if b.key not in keys}
                used += list(extra.values())
            else:
                data["results"] = [
                    build.per_symbol(kind, b, method, window, risk_free) for b in bars
                ]
            data["convention"] = build.convention(
                kind,
                method,
                alignment=alignment,
                risk_free=risk_free if kind == "sharpe" else None,
            )
            data["candles_used"] = [b.used() for b in used]
            return data, joined_source(used)

        params: dict[str, object] = {
            "k": kind,
            "s": [f"{i.asset_class.value}:{i.symbol}" for i in insts],
            "d": days,
            "m": method,
            "day": start.date().isoformat(),
        }
        if kind == "volatility":
            params["w"] = window
        if kind == "sharpe":
            params["rf"] = risk_free
        if kind == "beta":
            params["b"] = f"{bench.asset_class.value}:{bench.symbol}" if bench else None
        return await self._answer(DataType.ANALYTICS, insts, params, load, force_refresh)

    async def _benchmarks(
        self,
        bars: Sequence[SymbolBars],
        bench: Instrument | None,
        start: Any,
        end: Any,
        priority: Priority,
    ) -> dict[str, SymbolBars]:
        """Each symbol's benchmark: the one asked for, else SPY for stocks and BTC for crypto."""
        wanted = {
            b.key: bench or self._resolve(DEFAULT_BENCHMARK[b.inst.asset_class], b.inst.asset_class)
            for b in bars
        }
        distinct = list(dict.fromkeys(wanted.values()))
        loaded = {
            f"{b.inst.asset_class.value}:{b.inst.symbol}": b
            for b in await load_bars(self._source, distinct, start, end, priority)
        }
        return {key: loaded[f"{i.asset_class.value}:{i.symbol}"] for key, i in wanted.items()}

    async def patterns(
        self,
        symbol: str,
        *,
        days: int = 180,
        swing: int = 3,
        asset_class: AssetClass | None = None,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        inst = self._resolve(symbol, asset_class)
        start, end = self._source.range(None, None, days)

        async def load() -> tuple[dict[str, Any], str]:
            (bars,) = await load_bars(self._source, [inst], start, end, priority, minimum=1)
            return build.patterns_data(bars, swing), bars.source

        params = {"d": days, "sw": swing, "day": start.date().isoformat()}
        return await self._answer(DataType.PATTERNS, [inst], params, load, force_refresh)

    async def anomalies(
        self,
        symbols: Sequence[str],
        *,
        days: int = 365,
        window: int = anomaly_lib.DEFAULT_WINDOW,
        threshold: float = anomaly_lib.DEFAULT_THRESHOLD,
        divergence: bool = True,
        asset_class: AssetClass | None = None,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        insts = parse_symbols(symbols, asset_class, self._resolve)
        start, end = self._source.range(None, None, days)

        async def load() -> tuple[dict[str, Any], str]:
            bars = await load_bars(self._source, insts, start, end, priority, minimum=1)
            checks = await asyncio.gather(
                *(self._divergence(b.inst, priority) for b in bars if divergence)
            )
            rows = []
            for i, b in enumerate(bars):
                found = build.anomalies_data(b, window, threshold)
                validation = checks[i] if divergence else None
                if validation is not None and validation.get("status") == "divergent":
                    found.append(self._divergence_anomaly(validation))
                rows.append(
                    {
                        "symbol": b.inst.symbol,
                        "asset_class": b.inst.asset_class.value,
                        "anomalies": found,
                        "validation": validation,
                        "judged_candles": max(0, len(b.candles) - window),
                    }
                )
            data = {
                "days": days,
                "convention": {
                    "measure": "robust z-score: (x - median) / (1.4826 * MAD) over the "
                    "trailing window before each candle",
                    "window": window,
                    "threshold": threshold,
                    "kinds": "return (close to close), volume (of ln volume), gap (open vs "
                    "previous close where the ranges do not overlap, in units of the returns' "
                    "robust scale), provider_divergence (current quotes spread over "
                    "max_spread_pct)",
                },
                "results": rows,
                "candles_used": [b.used() for b in bars],
            }
            return data, joined_source(bars)

        params: dict[str, object] = {
            "s": [f"{i.asset_class.value}:{i.symbol}" for i in insts],
            "d": days,
            "w": window,
            "t": threshold,
            "v": divergence,
            "day": start.date().isoformat(),
        }
        return await self._answer(DataType.ANOMALIES, insts, params, load, force_refresh)

    async def _divergence(self, inst: Instrument, priority: Priority) -> dict[str, Any]:
        try:
            return await self._validate(inst, priority)
        except MarketsvcError as exc:
            return {"status": "unavailable", "spread_pct": None, "quotes": {}, "error": str(exc)}

    def _divergence_anomaly(self, validation: dict[str, Any]) -> dict[str, Any]:
        spread = validation["spread_pct"]
        limit = self._max_spread_pct
        quotes = validation.get("quotes", {})
        return {
            "kind": "provider_divergence",
            "ts": None,
            "value": spread,
            "score": None,
            "threshold": limit,
            "window": {"observations": len(quotes), "from": None, "to": None},
            "description": (
                f"current quotes of {len(quotes)} providers spread {spread:.2f}% "
                f"(more than {limit:g}% is divergent): {quotes}"
            ),
        }
