"""GET /api/market/search: symbols from the stored universes (no upstream call per query)."""

from __future__ import annotations

import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Response

from marketsvc.api.deps import ContainerDep
from marketsvc.api.schemas import SearchResponse, problem_response
from marketsvc.domain import AssetClass
from marketsvc.errors import InvalidInputError

router = APIRouter(prefix="/api/market", tags=["market data"])


@router.get(
    "/search",
    operation_id="search",
    response_model=SearchResponse,
    responses={422: problem_response("Empty query, or limit outside 1-50")},
    summary="Find symbols by ticker or name (crypto and stocks)",
    description=(
        "Served from the symbol universes the service stores (every provider's symbol list, "
        "refreshed daily), so a query never calls a provider. Ranking: exact symbol, symbol "
        "prefix, then names containing the query."
    ),
)
async def search(
    container: ContainerDep,
    q: Annotated[str, Query(min_length=1, max_length=64, description="ticker or name")],
    asset_class: Annotated[AssetClass | None, Query(description="only crypto or stock")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Response:
    t0 = time.perf_counter()
    query = q.strip()
    if not query:
        raise InvalidInputError("query.q: must not be blank")
    matches = container.orchestrator.search(query, asset_class, limit)
    body = {
        "query": query,
        "asset_class": asset_class.value if asset_class else None,
        "count": len(matches),
        "matches": matches,
    }
    timing = f"universe;dur={(time.perf_counter() - t0) * 1000:.3f}"
    return Response(
        orjson.dumps(body), media_type="application/json", headers={"Server-Timing": timing}
    )
