"""Analytics routes under /api/market: statistics, candlestick patterns, anomalies and news
sentiment, all computed locally (from the history store and the news answers)."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from marketsvc.analytics import anomalies as anomaly_lib
from marketsvc.api.analytics_schemas import (
    AnalyticsKind,
    AnalyticsResponse,
    AnomaliesResponse,
    PatternsResponse,
    SentimentResponse,
)
from marketsvc.api.deps import ContainerDep
from marketsvc.api.render import answer
from marketsvc.api.schemas import PROBLEM_RESPONSES, SYMBOL_RE
from marketsvc.domain import AssetClass

router = APIRouter(prefix="/api/market", tags=["analytics"])

Symbols = Annotated[
    str,
    Query(
        min_length=1,
        max_length=700,
        pattern=r"^[A-Za-z0-9.\-:/_^=,]+$",
        description="Comma-separated symbols, at most 20",
    ),
]
SymbolPath = Annotated[str, Path(pattern=SYMBOL_RE, description="e.g. BTC, AAPL")]
AssetClassQuery = Annotated[
    AssetClass | None, Query(description="force crypto or stock (otherwise detected)")
]
ForceRefresh = Annotated[bool, Query(description="bypass the cache")]
Days = Annotated[int, Query(ge=2, le=3650, description="Calendar days back from now")]


@router.get(
    "/analytics/{kind}",
    response_model=AnalyticsResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    operation_id="get_analytics",
    summary="Returns, volatility, drawdown, Sharpe, beta or a correlation matrix",
)
async def analytics(
    kind: AnalyticsKind,
    symbols: Symbols,
    container: ContainerDep,
    days: Days = 365,
    method: Annotated[
        Literal["simple", "log"], Query(description="simple (default) or log returns")
    ] = "simple",
    window: Annotated[
        int, Query(ge=2, le=500, description="Rolling volatility window, in returns")
    ] = 20,
    risk_free: Annotated[
        float, Query(gt=-1, lt=1, description="Annual risk-free rate as a fraction (Sharpe)")
    ] = 0.0,
    benchmark: Annotated[
        str | None, Query(pattern=SYMBOL_RE, description="Beta benchmark; default SPY / BTC")
    ] = None,
    asset_class: AssetClassQuery = None,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    env = await container.orchestrator.analytics.stats(
        kind.value,
        symbols.split(","),
        days=days,
        method=method,
        window=window,
        risk_free=risk_free,
        benchmark=benchmark,
        asset_class=asset_class,
        force_refresh=force_refresh,
    )
    return answer(container, env, t0)


@router.get(
    "/patterns/{symbol}",
    response_model=PatternsResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    operation_id="get_patterns",
    summary="Candlestick patterns (TA-Lib CDL* definitions) and support/resistance levels",
)
async def patterns(
    symbol: SymbolPath,
    container: ContainerDep,
    days: Days = 180,
    swing: Annotated[
        int, Query(ge=1, le=20, description="Candles on each side of a swing point")
    ] = 3,
    asset_class: AssetClassQuery = None,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    env = await container.orchestrator.analytics.patterns(
        symbol, days=days, swing=swing, asset_class=asset_class, force_refresh=force_refresh
    )
    return answer(container, env, t0)


@router.get(
    "/anomalies",
    response_model=AnomaliesResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    operation_id="get_anomalies",
    summary="Unusual returns, volume, gaps and provider divergence, each with its measure",
)
async def anomalies(
    symbols: Symbols,
    container: ContainerDep,
    days: Days = 365,
    window: Annotated[
        int,
        Query(
            ge=anomaly_lib.MIN_WINDOW,
            le=anomaly_lib.MAX_WINDOW,
            description="Trailing candles each candle is judged against",
        ),
    ] = anomaly_lib.DEFAULT_WINDOW,
    threshold: Annotated[
        float, Query(ge=2, le=50, description="Robust |z| from which a candle is flagged")
    ] = anomaly_lib.DEFAULT_THRESHOLD,
    divergence: Annotated[
        bool, Query(description="Also compare the current price across providers")
    ] = True,
    asset_class: AssetClassQuery = None,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    env = await container.orchestrator.analytics.anomalies(
        symbols.split(","),
        days=days,
        window=window,
        threshold=threshold,
        divergence=divergence,
        asset_class=asset_class,
        force_refresh=force_refresh,
    )
    return answer(container, env, t0)


@router.get(
    "/sentiment/{symbol}",
    response_model=SentimentResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    operation_id="get_sentiment",
    summary="News sentiment per day, with the scoring method of every article",
)
async def sentiment(
    symbol: SymbolPath,
    container: ContainerDep,
    days: Annotated[int, Query(ge=1, le=365, description="Calendar days back from now")] = 7,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    env = await container.orchestrator.sentiment.sentiment(
        symbol, days=days, force_refresh=force_refresh
    )
    return answer(container, env, t0)
