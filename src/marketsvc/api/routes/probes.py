"""Liveness and readiness probes (outside the /api/market prefix)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from marketsvc.api.deps import ContainerDep
from marketsvc.api.schemas import Liveness, Readiness
from marketsvc.api.stats import metrics_snapshot

router = APIRouter(tags=["probes"])


@router.get(
    "/healthz",
    operation_id="healthz",
    response_model=Liveness,
    summary="Liveness: the process answers",
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness}},
    summary="Readiness: the database and (if configured) Redis answer",
)
async def readyz(container: ContainerDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with container.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if container.redis is not None:
        try:
            async with asyncio.timeout(1):
                await container.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks},
        status_code=200 if ok else 503,
    )


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
    summary="Prometheus metrics",
)
async def metrics(container: ContainerDep) -> Response:
    body = container.metrics.render(await metrics_snapshot(container))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
