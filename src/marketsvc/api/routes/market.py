"""Market data routes under /api/market."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from marketsvc.api.deps import ContainerDep
from marketsvc.api.schemas import PROBLEM_RESPONSES, PriceResponse
from marketsvc.domain import AssetClass, Priority
from marketsvc.orchestrator import Envelope

router = APIRouter(prefix="/api/market", tags=["market data"])

SymbolPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9.\-:/_^=]{1,32}$", description="e.g. BTC, BTC-USD, AAPL, BRK.B")
]


def envelope_body(env: Envelope, sandbox: bool) -> dict[str, Any]:
    body = dict(env.data)
    body.update(
        source=env.source,
        cached=env.cached,
        freshness=env.freshness.value,
        age_seconds=round(env.age_seconds, 3),
        fetched_at=env.fetched_at.isoformat(),
    )
    body.update(env.extra)
    if sandbox:
        body["sandbox"] = True
    return body


def server_timing(response: Response, env: Envelope, elapsed_ms: float) -> None:
    response.headers["Server-Timing"] = f"{env.tier};dur={elapsed_ms:.3f}"


@router.get(
    "/price/{symbol}",
    response_model=PriceResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    summary="Current price (crypto or stock detected from the symbol)",
)
async def price(
    symbol: SymbolPath,
    container: ContainerDep,
    response: Response,
    asset_class: Annotated[AssetClass | None, Query(description="force crypto or stock")] = None,
) -> dict[str, Any]:
    import time

    t0 = time.perf_counter()
    env = await container.orchestrator.price(symbol, asset_class, priority=Priority.MEDIUM)
    server_timing(response, env, (time.perf_counter() - t0) * 1000)
    return envelope_body(env, container.settings.sandbox)
