"""Market data routes under /api/market."""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from marketsvc.analytics import INDICATORS
from marketsvc.api.deps import ContainerDep, container_of, request_priority
from marketsvc.api.params import as_datetime, check_history_window
from marketsvc.api.render import answer
from marketsvc.api.schemas import (
    PROBLEM_RESPONSES,
    SYMBOL_RE,
    FundamentalsResponse,
    HistoricalResponse,
    NewsResponse,
    PriceResponse,
    TechnicalResponse,
)
from marketsvc.domain import AssetClass, Interval
from marketsvc.errors import InvalidInputError

router = APIRouter(prefix="/api/market", tags=["market data"])

SymbolPath = Annotated[str, Path(pattern=SYMBOL_RE, description="e.g. BTC, BTC-USD, AAPL, BRK.B")]
# One side of ``/price/{base}/{quote}``: a path segment never holds '/'; the joined
# ``base-quote`` then passes the one symbol rule (symbols.resolve).
_PART_RE = r"^[A-Za-z0-9.\-:_^=]{1,32}$"
BasePath = Annotated[str, Path(pattern=_PART_RE, description="e.g. BTC")]
QuotePath = Annotated[str, Path(pattern=_PART_RE, description="e.g. USD")]
AssetClassQuery = Annotated[
    AssetClass | None, Query(description="force crypto or stock (otherwise detected)")
]
ForceRefresh = Annotated[bool, Query(description="bypass the cache")]


_BOOL = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}
_PRICE_QUERY = ("asset_class", "validate", "force_refresh")
PRICE_PARAMETERS = [
    {
        "name": "asset_class",
        "in": "query",
        "required": False,
        "description": "force crypto or stock (otherwise detected)",
        "schema": {"anyOf": [{"enum": ["crypto", "stock"], "type": "string"}, {"type": "null"}]},
    },
    {
        "name": "validate",
        "in": "query",
        "required": False,
        "description": "compare ≥ 2 providers",
        "schema": {"type": "boolean", "default": False},
    },
    {
        "name": "force_refresh",
        "in": "query",
        "required": False,
        "description": "bypass the cache",
        "schema": {"type": "boolean", "default": False},
    },
]


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    value = _BOOL.get(raw.lower())
    if value is None:
        raise InvalidInputError(f"query.{name}: {raw!r} is not a boolean")
    return value


def price_query(request: Request) -> tuple[AssetClass | None, bool, bool]:
    """The price route's query, parsed by hand: FastAPI's per-parameter validation was the
    largest single cost of an L1 hit (profiled); the parameters are documented through
    ``openapi_extra`` and validated just as strictly here."""
    if not request.query_params:
        return None, False, False
    raw_class = request.query_params.get("asset_class")
    try:
        asset_class = AssetClass(raw_class) if raw_class is not None else None
    except ValueError:
        raise InvalidInputError("query.asset_class: must be crypto or stock") from None
    return asset_class, _flag(request, "validate"), _flag(request, "force_refresh")


@router.get(
    "/price/{symbol}",
    response_model=PriceResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    summary="Current price (crypto or stock detected from the symbol)",
    openapi_extra={"parameters": PRICE_PARAMETERS},
)
async def price(symbol: SymbolPath, request: Request) -> Response:
    return await _price(symbol, request)


@router.get(
    "/price/{base}/{quote}",
    response_model=PriceResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    summary="Current price of a pair: the same answer as /price/{base}-{quote}",
    openapi_extra={"parameters": PRICE_PARAMETERS},
)
async def price_pair(base: BasePath, quote: QuotePath, request: Request) -> Response:
    return await _price(f"{base}-{quote}", request)


async def _price(symbol: str, request: Request) -> Response:
    t0 = time.perf_counter()
    container = container_of(request)
    asset_class, validate, force_refresh = price_query(request)
    env = await container.orchestrator.price(
        symbol,
        asset_class,
        force_refresh=force_refresh,
        validate=validate,
        priority=request_priority(request),
    )
    return answer(container, env, t0)


@router.get(
    "/historical/{symbol}",
    response_model=HistoricalResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    summary="OHLCV candles, oldest first",
)
async def historical(
    symbol: SymbolPath,
    container: ContainerDep,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
    timespan: Interval = Interval.DAY,
    start: Annotated[date | None, Query(description="ISO date; overrides days")] = None,
    end: Annotated[date | None, Query(description="ISO date (exclusive); default now")] = None,
    asset_class: AssetClassQuery = None,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    check_history_window(start, end, days, "query")
    env = await container.orchestrator.historical(
        symbol,
        asset_class,
        interval=timespan,
        start=as_datetime(start),
        end=as_datetime(end),
        days=days,
        force_refresh=force_refresh,
    )
    return answer(container, env, t0)


@router.get(
    "/news",
    response_model=NewsResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    summary="Articles across the news providers, deduplicated",
)
async def news(
    container: ContainerDep,
    query: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    symbol: Annotated[str | None, Query(pattern=SYMBOL_RE)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    env = await container.orchestrator.news(
        query=query, symbol=symbol, limit=limit, force_refresh=force_refresh
    )
    return answer(container, env, t0)


@router.get(
    "/technical/{symbol}",
    response_model=TechnicalResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    summary="Indicators computed locally from stored history",
)
async def technical(
    symbol: SymbolPath,
    container: ContainerDep,
    indicators: Annotated[
        str, Query(pattern=r"^[a-z,]{1,100}$", description=f"comma list of {', '.join(INDICATORS)}")
    ] = "sma,ema,rsi,macd,bbands",
    period: Annotated[int, Query(ge=2, le=500)] = 14,
    timespan: Interval = Interval.DAY,
    days: Annotated[int, Query(ge=30, le=3650)] = 200,
    asset_class: AssetClassQuery = None,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    env = await container.orchestrator.technical(
        symbol,
        asset_class,
        indicators=indicators.split(","),
        period=period,
        interval=timespan,
        days=days,
        force_refresh=force_refresh,
    )
    return answer(container, env, t0)


@router.get(
    "/fundamentals/{symbol}",
    response_model=FundamentalsResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    summary="Company profile and key figures (stocks)",
)
async def fundamentals(
    symbol: SymbolPath,
    container: ContainerDep,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    env = await container.orchestrator.fundamentals(symbol, force_refresh=force_refresh)
    return answer(container, env, t0)
