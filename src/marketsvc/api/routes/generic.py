"""The generic envelope: one request, or a batch of up to 100 that never fails as a whole."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, Response

from marketsvc.api.deps import ContainerDep
from marketsvc.api.errors import problem_for
from marketsvc.api.routes.market import envelope_body, timing
from marketsvc.api.schemas import (
    PROBLEM_RESPONSES,
    BatchItem,
    BatchRequest,
    BatchResponse,
    MarketDataRequest,
    MarketDataResponse,
    Problem,
)
from marketsvc.domain import Priority
from marketsvc.errors import MarketsvcError

router = APIRouter(prefix="/api/market", tags=["market data"])


@router.post(
    "/market-data",
    response_model=MarketDataResponse,
    response_model_exclude_none=True,
    responses=PROBLEM_RESPONSES,
    summary="Any data type through one envelope",
)
async def market_data(
    body: MarketDataRequest, container: ContainerDep, response: Response
) -> dict[str, Any]:
    t0 = time.perf_counter()
    env = await container.orchestrator.fetch(
        body.data_type,
        body.symbol,
        body.params,
        force_refresh=body.force_refresh,
        priority=Priority[body.priority],
    )
    response.headers["Server-Timing"] = timing(env, t0)
    return {"data_type": body.data_type.value, **envelope_body(env, container.settings.sandbox)}


async def _one(container: ContainerDep, req: MarketDataRequest) -> BatchItem:
    try:
        env = await container.orchestrator.fetch(
            req.data_type,
            req.symbol,
            req.params,
            force_refresh=req.force_refresh,
            priority=Priority[req.priority],
        )
    except MarketsvcError as exc:
        return BatchItem(
            ok=False, error=Problem.model_validate(orjson.loads(problem_for(exc).body))
        )
    data = {"data_type": req.data_type.value, **envelope_body(env, container.settings.sandbox)}
    return BatchItem(ok=True, data=data)


@router.post(
    "/market-data/batch",
    response_model=BatchResponse,
    response_model_exclude_none=True,
    responses={422: PROBLEM_RESPONSES[422]},
    summary="Up to 100 envelopes; one answer or one error per request, in order",
)
async def market_data_batch(body: BatchRequest, container: ContainerDep) -> BatchResponse:
    items = await asyncio.gather(*(_one(container, r) for r in body.requests))
    return BatchResponse(results=list(items))
