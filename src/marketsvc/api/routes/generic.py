"""The generic envelope: one request, or a batch of up to 100 that never fails as a whole."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, Response
from pydantic import ValidationError

from marketsvc.api.deps import ContainerDep
from marketsvc.api.errors import problem_for
from marketsvc.api.params import dispatch
from marketsvc.api.render import envelope_body, timing
from marketsvc.api.schemas import (
    BODY_RESPONSES,
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

BATCH_DEADLINE_SECONDS = 20.0


@router.post(
    "/market-data",
    operation_id="fetch_market_data",
    response_model=MarketDataResponse,
    response_model_exclude_none=True,
    responses={**PROBLEM_RESPONSES, **BODY_RESPONSES},
    summary="Any data type through one envelope",
)
async def market_data(
    body: MarketDataRequest, container: ContainerDep, response: Response
) -> dict[str, Any]:
    t0 = time.perf_counter()
    with container.orchestrator.for_user():
        env = await dispatch(
            container.orchestrator,
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
        with container.orchestrator.for_user():
            env = await dispatch(
                container.orchestrator,
                req.data_type,
                req.symbol,
                req.params,
                force_refresh=req.force_refresh,
                priority=Priority[req.priority],
            )
    except MarketsvcError as exc:
        problem = problem_for(exc)
        body = orjson.loads(problem.body)
        if "retry-after" in problem.headers:  # no per-item headers: say it in the body
            body["retry_after"] = int(problem.headers["retry-after"])
        return BatchItem(ok=False, error=Problem.model_validate(body))
    data = {"data_type": req.data_type.value, **envelope_body(env, container.settings.sandbox)}
    return BatchItem(ok=True, data=data)


async def _checked(container: ContainerDep, raw: Any) -> BatchItem:
    try:
        req = MarketDataRequest.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        return BatchItem(
            ok=False,
            error=Problem(
                type="https://marketsvc.dev/problems/invalid-input",
                title="Invalid input",
                status=422,
                detail=f"{where}: {first['msg']}",
                errors=errors,
            ),
        )
    return await _one(container, req)


@router.post(
    "/market-data/batch",
    operation_id="fetch_batch",
    response_model=BatchResponse,
    response_model_exclude_none=True,
    responses=BODY_RESPONSES,
    summary="Up to 100 envelopes; one answer or one error per request, in order",
)
async def market_data_batch(body: BatchRequest, container: ContainerDep) -> BatchResponse:
    tasks = [asyncio.ensure_future(_checked(container, raw)) for raw in body.requests]
    # One slow item (ten years of history to fetch) must not hold the whole answer past what
    # a client waits: items still running at the deadline answer 503 + retry_after, alone.
    done, pending = await asyncio.wait(tasks, timeout=BATCH_DEADLINE_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    late = BatchItem(
        ok=False,
        error=Problem(
            type="https://marketsvc.dev/problems/deadline-exceeded",
            title="Service unavailable",
            status=503,
            detail=f"not answered within the batch's {BATCH_DEADLINE_SECONDS:g} s; "
            "retry this item alone",
            retry_after=5,
        ),
    )
    return BatchResponse(results=[t.result() if t in done else late for t in tasks])
