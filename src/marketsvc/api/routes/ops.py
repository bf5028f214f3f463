"""Operations: cache statistics and clearing, service statistics, provider health, prefetch."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from marketsvc.api import stats as stats_views
from marketsvc.api.auth import require_admin
from marketsvc.api.deps import ContainerDep
from marketsvc.api.params import dispatch
from marketsvc.api.schemas import (
    ADMIN_RESPONSES,
    BODY_RESPONSES,
    OVERLOAD_RESPONSES,
    CacheClearRequest,
    CacheClearResponse,
    PrefetchRequest,
    PrefetchResponse,
)
from marketsvc.domain import DataType, Priority

router = APIRouter(prefix="/api/market", tags=["operations"], responses=OVERLOAD_RESPONSES)
admin = APIRouter(
    prefix="/api/market",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=ADMIN_RESPONSES,
)


@router.get(
    "/cache/stats",
    operation_id="cache_stats",
    summary="Per-tier size, hits, misses, hit rate, evictions, errors",
)
async def cache_stats(container: ContainerDep) -> dict[str, Any]:
    return await stats_views.cache_stats(container)


@router.get(
    "/stats",
    operation_id="service_stats",
    summary="Requests, hit rate, provider calls, planner queues, quotas",
)
async def stats(container: ContainerDep) -> dict[str, Any]:
    return await stats_views.service_stats(container)


@router.get(
    "/health", operation_id="health", summary="Each provider: up / degraded / down (circuit state)"
)
async def health(container: ContainerDep) -> dict[str, Any]:
    providers = container.orchestrator.health()
    statuses = {p["status"] for p in providers.values()}
    overall = "up" if statuses <= {"up"} else ("down" if statuses == {"down"} else "degraded")
    body: dict[str, Any] = {"status": overall, "providers": providers}
    if container.streams is not None:
        body["streams"] = container.streams.stats()
    if container.settings.sandbox:
        body["sandbox"] = True
    return body


@admin.post(
    "/cache/clear",
    operation_id="clear_cache",
    response_model=CacheClearResponse,
    responses=BODY_RESPONSES,
    summary="Invalidate in every tier and on every replica (admin)",
)
async def cache_clear(body: CacheClearRequest, container: ContainerDep) -> dict[str, Any]:
    cleared = await container.orchestrator.invalidate(body.data_type, body.symbol)
    return {"cleared": cleared}


@admin.post(
    "/prefetch",
    operation_id="prefetch",
    status_code=202,
    response_model=PrefetchResponse,
    responses=BODY_RESPONSES,
    summary="Warm the cache through the planner at BATCH priority (admin)",
)
async def prefetch(body: PrefetchRequest, container: ContainerDep) -> JSONResponse:
    orch = container.orchestrator
    priority = Priority.BATCH if len(body.symbols) > 5 else Priority.LOW

    def one(symbol: str) -> Any:
        if body.data_type is DataType.NEWS:
            return dispatch(orch, body.data_type, None, {"query": symbol}, True, priority)
        return dispatch(orch, body.data_type, symbol, {}, True, priority)

    async def warm() -> None:
        # All at once, so the planner can merge batchable calls; best effort (errors are
        # counted in the provider statistics, not raised).
        await asyncio.gather(*(one(s) for s in body.symbols), return_exceptions=True)

    orch.spawn(warm())
    return JSONResponse(
        {
            "accepted": len(body.symbols),
            "data_type": body.data_type.value,
            "priority": priority.name,
        },
        status_code=202,
    )
