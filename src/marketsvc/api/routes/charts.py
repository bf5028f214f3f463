"""``GET /api/market/chart/{symbol}``: a rendered chart (SVG or PNG), cached like any answer.

The provenance fields a JSON answer carries in its body travel as headers here
(``X-Data-Source``, ``X-Data-Freshness``, ``X-Data-Cached``, ``X-Data-Fetched-At``,
``X-Data-Sandbox``), beside ``Server-Timing``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from marketsvc.api.deps import ContainerDep
from marketsvc.api.render import timing
from marketsvc.api.routes.market import AssetClassQuery, ForceRefresh, SymbolPath
from marketsvc.api.schemas import PROBLEM_RESPONSES
from marketsvc.charts import ChartFormat, ThemeName, parse_studies
from marketsvc.charts.spec import MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH
from marketsvc.domain import Interval, iso_z
from marketsvc.orchestrator.chart_answers import chart as chart_answer

router = APIRouter(prefix="/api/market", tags=["charts"])

_HEADERS = {
    name: {"description": text, "schema": {"type": "string"}}
    for name, text in {
        "X-Data-Source": "the provider(s) the candles came from",
        "X-Data-Freshness": "realtime | near_realtime | delayed | stale",
        "X-Data-Cached": "true when the image was served from a cache tier",
        "X-Data-Fetched-At": "when the image was drawn (ISO 8601 UTC)",
        "Server-Timing": "the tier that answered and the server time in ms",
    }.items()
}
CHART_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The chart image",
        "headers": _HEADERS,
        "content": {
            "image/svg+xml": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **PROBLEM_RESPONSES,
}


@router.get(
    "/chart/{symbol}",
    operation_id="get_chart",
    response_class=Response,
    responses=CHART_RESPONSES,
    summary="Candlestick chart with volume, overlays and lower panes (SVG or PNG)",
    description="Bars are placed by index, so weekends and holidays leave no gaps; the date "
    "labels name the bars under them. `indicators` takes overlays `sma`, `ema`, `bbands` and "
    "lower panes `rsi`, `macd`, each with an optional period: `sma:20,sma:50,bbands,rsi`.",
)
async def chart(
    symbol: SymbolPath,
    container: ContainerDep,
    days: Annotated[int, Query(ge=1, le=3650, description="calendar days back from now")] = 90,
    timespan: Interval = Interval.DAY,
    indicators: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z0-9:,]{0,100}$",
            description="comma list of sma, ema, bbands (overlays) and rsi, macd (panes), "
            "each optionally `:period`",
            examples=["sma:20,ema:50,bbands,rsi,macd"],
        ),
    ] = None,
    format: Annotated[ChartFormat, Query(description="svg or png")] = ChartFormat.SVG,
    theme: ThemeName = ThemeName.LIGHT,
    width: Annotated[int, Query(ge=MIN_WIDTH, le=MAX_WIDTH)] = 1000,
    height: Annotated[int, Query(ge=MIN_HEIGHT, le=MAX_HEIGHT)] = 600,
    asset_class: AssetClassQuery = None,
    force_refresh: ForceRefresh = False,
) -> Response:
    t0 = time.perf_counter()
    env = await chart_answer(
        container.orchestrator,
        symbol,
        asset_class,
        fmt=format,
        days=days,
        interval=timespan,
        studies=parse_studies(indicators),
        theme=theme,
        width=width,
        height=height,
        note="sandbox: synthetic data" if container.settings.sandbox else "",
        force_refresh=force_refresh,
    )
    headers = {
        "Server-Timing": timing(env, t0),
        "X-Data-Source": env.source,
        "X-Data-Freshness": env.freshness.value,
        "X-Data-Cached": "true" if env.cached else "false",
        "X-Data-Fetched-At": iso_z(env.fetched_at),
    }
    if container.settings.sandbox:
        headers["X-Data-Sandbox"] = "true"
    if env.extra.get("refresh_failed"):
        headers["X-Data-Refresh-Failed"] = str(env.extra.get("refresh_error", "true"))
    return Response(env.payload, media_type=format.media_type, headers=headers)
