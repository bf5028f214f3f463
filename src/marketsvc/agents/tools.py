"""The MCP tools: the service's read operations, each a typed function that answers through
the same orchestrator as REST (same cache, planner, priorities) and returns the same fields as
the REST answer, provenance (``source``, ``cached``, ``freshness``, ...) included.

``TOOLS`` is the registry ``server.py`` installs. A new read operation (search, analytics,
patterns, anomalies) is one typed function plus one ``ToolSpec`` line here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from marketsvc.api.errors import problem_for
from marketsvc.api.params import as_datetime, check_history_window
from marketsvc.api.render import envelope_body
from marketsvc.api.schemas import SYMBOL_RE
from marketsvc.container import Container
from marketsvc.domain import AssetClass, Interval, Priority
from marketsvc.errors import MarketsvcError
from marketsvc.orchestrator import Envelope

Symbol = Annotated[str, Field(pattern=SYMBOL_RE, description="e.g. BTC, BTC-USD, ETH, AAPL, BRK.B")]
AssetClassArg = Annotated[
    Literal["crypto", "stock"] | None,
    Field(description="force crypto or stock; detected from the symbol when omitted"),
]
Timespan = Annotated[Literal["minute", "hour", "day", "week"], Field(description="bar size")]
ForceRefresh = Annotated[bool, Field(description="bypass the cache (costs provider quota)")]
Days = Annotated[int, Field(ge=1, le=3650, description="calendar days back from now")]


def _container(ctx: Context) -> Container:
    """The Container from the lifespan state of the HTTP request that carried the call, as
    REST routes read it (``api/deps.py``)."""
    request = ctx.request_context.request
    container: Container | None = getattr(getattr(request, "state", None), "container", None)
    if container is None:
        raise ToolError("the service is not ready")
    return container


async def _answer(ctx: Context, call: Callable[[Container], Awaitable[Envelope]]) -> dict[str, Any]:
    """The REST answer's body for the envelope, or a tool error carrying the problem details
    (status, title, detail) REST would have answered."""
    container = _container(ctx)
    try:
        env = await call(container)
    except MarketsvcError as exc:
        raise ToolError(_problem_text(exc)) from None
    return envelope_body(env, container.settings.sandbox)


def _problem_text(exc: MarketsvcError) -> str:
    response = problem_for(exc)
    return f"{response.status_code} {bytes(response.body).decode()}"


def _asset_class(value: str | None) -> AssetClass | None:
    return AssetClass(value) if value else None


async def get_price(
    ctx: Context,
    symbol: Symbol,
    asset_class: AssetClassArg = None,
    force_refresh: ForceRefresh = False,
) -> dict[str, Any]:
    return await _answer(
        ctx,
        lambda c: c.orchestrator.price(
            symbol, _asset_class(asset_class), force_refresh=force_refresh
        ),
    )


async def get_prices(
    ctx: Context,
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=100)],
    force_refresh: ForceRefresh = False,
) -> dict[str, Any]:
    async def one(symbol: str) -> dict[str, Any]:
        try:
            return {"ok": True, "data": await get_price(ctx, symbol, None, force_refresh)}
        except ToolError as exc:
            return {"ok": False, "symbol": symbol, "error": str(exc)}

    # Together, so the planner can merge the calls into batch calls where a provider has one.
    return {"results": list(await asyncio.gather(*(one(s) for s in symbols)))}


async def get_history(
    ctx: Context,
    symbol: Symbol,
    days: Days = 30,
    timespan: Timespan = "day",
    start: Annotated[date | None, Field(description="ISO date; overrides days")] = None,
    end: Annotated[date | None, Field(description="ISO date (exclusive); default now")] = None,
    asset_class: AssetClassArg = None,
    force_refresh: ForceRefresh = False,
) -> dict[str, Any]:
    try:
        check_history_window(start, end, days, "arguments")
    except MarketsvcError as exc:
        raise ToolError(_problem_text(exc)) from None
    return await _answer(
        ctx,
        lambda c: c.orchestrator.historical(
            symbol,
            _asset_class(asset_class),
            interval=Interval(timespan),
            start=as_datetime(start),
            end=as_datetime(end),
            days=days,
            force_refresh=force_refresh,
        ),
    )


async def get_news(
    ctx: Context,
    query: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
    symbol: Annotated[str | None, Field(pattern=SYMBOL_RE)] = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
    force_refresh: ForceRefresh = False,
) -> dict[str, Any]:
    return await _answer(
        ctx,
        lambda c: c.orchestrator.news(
            query=query, symbol=symbol, limit=limit, force_refresh=force_refresh
        ),
    )


async def get_technical(
    ctx: Context,
    symbol: Symbol,
    indicators: Annotated[
        list[Literal["sma", "ema", "rsi", "macd", "bbands", "atr", "stoch", "vwap", "obv"]],
        Field(min_length=1, max_length=9),
    ] = ["sma", "ema", "rsi", "macd", "bbands"],  # noqa: B006 (read only; the JSON default)
    period: Annotated[int, Field(ge=2, le=500)] = 14,
    timespan: Timespan = "day",
    days: Annotated[int, Field(ge=30, le=3650)] = 200,
    asset_class: AssetClassArg = None,
    force_refresh: ForceRefresh = False,
) -> dict[str, Any]:
    return await _answer(
        ctx,
        lambda c: c.orchestrator.technical(
            symbol,
            _asset_class(asset_class),
            indicators=list(indicators),
            period=period,
            interval=Interval(timespan),
            days=days,
            force_refresh=force_refresh,
        ),
    )


async def get_fundamentals(
    ctx: Context, symbol: Symbol, force_refresh: ForceRefresh = False
) -> dict[str, Any]:
    return await _answer(
        ctx,
        lambda c: c.orchestrator.fundamentals(
            symbol, force_refresh=force_refresh, priority=Priority.MEDIUM
        ),
    )


async def search_symbols(
    ctx: Context,
    query: Annotated[str, Field(min_length=1, max_length=64, description="ticker or name")],
    asset_class: AssetClassArg = None,
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> dict[str, Any]:
    container = _container(ctx)
    matches = container.orchestrator.search(query.strip(), _asset_class(asset_class), limit)
    return {"query": query.strip(), "count": len(matches), "matches": matches}


async def get_analytics(
    ctx: Context,
    kind: Annotated[
        Literal["returns", "volatility", "drawdown", "sharpe", "beta", "correlation"],
        Field(description="the statistic"),
    ],
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=20)],
    days: Days = 365,
    benchmark: Annotated[
        Symbol | None, Field(description="for beta/correlation: default SPY or BTC")
    ] = None,
) -> dict[str, Any]:
    return await _answer(
        ctx,
        lambda c: c.orchestrator.analytics.stats(kind, symbols, days=days, benchmark=benchmark),
    )


async def get_patterns(ctx: Context, symbol: Symbol, days: Days = 180) -> dict[str, Any]:
    return await _answer(ctx, lambda c: c.orchestrator.analytics.patterns(symbol, days=days))


async def get_anomalies(
    ctx: Context,
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=20)],
    days: Days = 365,
) -> dict[str, Any]:
    return await _answer(ctx, lambda c: c.orchestrator.analytics.anomalies(symbols, days=days))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    title: str
    description: str
    fn: Callable[..., Awaitable[dict[str, Any]]]


_PROVENANCE = (
    " Every answer carries source (the provider), cached, freshness (realtime, near_realtime, "
    "delayed, stale), age_seconds and fetched_at; sandbox: true marks synthetic data."
)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("get_price", "Current price", "The current price of one crypto asset or stock "
             "(price, change, change_percent, volume, timestamp, currency)." + _PROVENANCE,
             get_price),
    ToolSpec("get_prices", "Current prices", "Current prices of up to 100 symbols in one call; "
             "each result is {ok, data} or {ok: false, symbol, error}, in order." + _PROVENANCE,
             get_prices),
    ToolSpec("get_history", "OHLCV history", "Candles (ts, open, high, low, close, volume), "
             "oldest first, from the history store; providers names who supplied which range."
             + _PROVENANCE, get_history),
    ToolSpec("get_news", "News", "Recent articles for a query or a symbol across the news "
             "providers, newest first, deduplicated. Give query or symbol." + _PROVENANCE,
             get_news),
    ToolSpec("get_technical", "Technical indicators", "Indicators computed from stored "
             "history (TA-Lib conventions): series aligned with timestamps, null during "
             "warm-up." + _PROVENANCE, get_technical),
    ToolSpec("get_fundamentals", "Company fundamentals", "A stock's profile and key figures "
             "(sector, market cap, P/E, EPS, dividend yield, 52-week range)." + _PROVENANCE,
             get_fundamentals),
    ToolSpec("search_symbols", "Search symbols", "Symbols whose ticker or name matches the "
             "query (symbol, name, asset_class, providers), from the stored symbol lists; "
             "never a provider call.", search_symbols),
    ToolSpec("get_analytics", "Statistics", "Returns, volatility (annualised: 252 days for "
             "stocks, 365 for crypto), drawdown, Sharpe, beta or a correlation matrix over "
             "stored daily candles; each answer names its convention and candles." + _PROVENANCE,
             get_analytics),
    ToolSpec("get_patterns", "Candlestick patterns", "TA-Lib-equal candlestick patterns "
             "(+100/-100) and support/resistance levels over stored daily candles."
             + _PROVENANCE, get_patterns),
    ToolSpec("get_anomalies", "Anomalies", "Unusual returns, volume and gaps (robust z-scores "
             "against a trailing window) and cross-provider price divergence, each with its "
             "measure and window." + _PROVENANCE, get_anomalies),
)  # fmt: skip
