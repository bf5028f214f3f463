"""The ASGI fast path (api/fast_path.py) answers fresh L1 price hits exactly as the route does
(body byte for byte, headers, access line, metrics) and leaves everything else to the route."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from marketsvc.api.fast_path import FastPathMiddleware, _price_query
from marketsvc.domain import AssetClass
from marketsvc.logs import JsonFormatter, RedactingFilter
from tests.api.conftest import make_settings, running_app


class Spy:
    """Counts the calls that reach the normal route (``DataOrchestrator.price``)."""

    def __init__(self, app: FastAPI) -> None:
        orchestrator = app.state.container.orchestrator
        self.calls = 0
        real = orchestrator.price

        async def price(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await real(*args, **kwargs)

        orchestrator.price = price


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Spy]]:
    async with running_app(make_settings(tmp_path)) as (app, client):
        yield app, client, Spy(app)


@pytest.fixture
def access() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("marketsvc.access")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def freeze(app: FastAPI, now: float) -> None:
    """One instant for the cache and the freshness judge, so two answers can be compared."""
    orchestrator = app.state.container.orchestrator
    orchestrator.cache.clock = lambda: now
    orchestrator.answers._clock = lambda: now


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("path", "route_query"),
    [
        ("/api/market/price/BTC", "?unknown=1"),
        ("/api/market/price/ETH/USD", "?unknown=1"),
        ("/api/market/price/AAPL", "?unknown=1"),
        ("/api/market/price/SOL?asset_class=crypto", "&unknown=1"),
    ],
)
async def test_a_fast_answer_is_the_routes_answer_byte_for_byte(
    served: tuple[FastAPI, httpx.AsyncClient, Spy],
    access: io.StringIO,
    path: str,
    route_query: str,
) -> None:
    app, client, spy = served
    warm = await client.get(path)  # a miss: the route loads it into L1
    assert warm.status_code == 200 and spy.calls == 1
    freeze(app, _fetched(warm) + 1.5)

    fast = await client.get(path, headers={"X-Request-ID": "fast-1"})
    assert spy.calls == 1, "a fresh L1 hit never reached the route"
    # An unknown parameter makes the fast path step aside; the route ignores it.
    routed = await client.get(path + route_query, headers={"X-Request-ID": "fast-1"})
    assert spy.calls == 2

    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content
    body = fast.json()
    assert body["cached"] is True and body["source"] and body["age_seconds"] == 1.5
    assert body["freshness"] in ("realtime", "near_realtime", "delayed")
    names = [k.lower() for k in fast.headers]
    assert names == [k.lower() for k in routed.headers]
    assert fast.headers["x-request-id"] == "fast-1"
    assert fast.headers["server-timing"].startswith("l1;dur=")
    assert routed.headers["server-timing"].startswith("l1;dur=")

    logged = lines(access)[-2:]
    for line in logged:
        line.pop("duration_ms")
        line.pop("ts")
    fast_line, routed_line = logged
    assert routed_line.pop("query").endswith("unknown=1")
    assert fast_line.pop("query") == (path.partition("?")[2] or None)
    assert fast_line == {**routed_line, "path": fast_line["path"]}
    assert fast_line["tier"] == "l1" and fast_line["request_id"] == "fast-1"


def _fetched(response: httpx.Response) -> float:
    from datetime import datetime

    return datetime.fromisoformat(response.json()["fetched_at"].replace("Z", "+00:00")).timestamp()


async def test_fast_answers_are_counted_like_routed_ones(
    served: tuple[FastAPI, httpx.AsyncClient, Spy],
) -> None:
    app, client, spy = served
    await client.get("/api/market/price/BTC")
    for _ in range(3):
        assert (await client.get("/api/market/price/BTC")).status_code == 200
    assert spy.calls == 1
    stats = (await client.get("/api/market/cache/stats")).json()
    metrics = (await client.get("/metrics")).text
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith("marketsvc_http_requests_total{")
        and 'route="/api/market/price/{symbol}"' in x
        and 'status="200"' in x
    )
    assert float(line.rsplit(" ", 1)[1]) == 4.0
    usage = app.state.container.orchestrator.usage.snapshot()
    assert usage["answers_by_tier"].get("l1") == 3
    assert usage["requests_last_hour"] == 4
    assert stats  # the cache statistics still render


@pytest.mark.parametrize(
    "query",
    ["force_refresh=true", "validate=1", "asset_class=stock&x=1", "a%3Db"],
)
async def test_anything_unusual_goes_to_the_route(
    served: tuple[FastAPI, httpx.AsyncClient, Spy], query: str
) -> None:
    _, client, spy = served
    await client.get("/api/market/price/BTC")
    before = spy.calls
    await client.get(f"/api/market/price/BTC?{query}")
    assert spy.calls == before + 1


async def test_refused_symbols_and_misses_get_the_routes_answers(
    served: tuple[FastAPI, httpx.AsyncClient, Spy],
) -> None:
    _, client, spy = served
    bad = await client.get("/api/market/price/B$TC")
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    wrong_class = await client.get("/api/market/price/BTC?asset_class=CRYPTO")
    assert wrong_class.status_code == 422
    miss = await client.get("/api/market/price/DOGE")
    assert miss.status_code == 200 and miss.headers["server-timing"].startswith("upstream")
    assert spy.calls == 1
    slash = await client.get("/api/market/price/DOGE/")  # trailing slash: the route's rules
    assert slash.status_code == 200 and spy.calls == 2


async def test_a_full_process_still_refuses_price_hits(
    served: tuple[FastAPI, httpx.AsyncClient, Spy],
) -> None:
    app, client, _ = served
    await client.get("/api/market/price/BTC")
    gate = _fast_layer(app).gate
    gate.count = gate.limit  # as if that many requests were in progress
    try:
        refused = await client.get("/api/market/price/BTC")
    finally:
        gate.count = 0
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"


async def test_the_allow_hook_and_the_route_list_keep_requests_off_the_fast_path(
    served: tuple[FastAPI, httpx.AsyncClient, Spy],
) -> None:
    app, client, spy = served
    await client.get("/api/market/price/BTC")
    await client.get("/api/market/price/ETH/USD")
    layer = _fast_layer(app)
    layer.allow = lambda scope: False  # e.g. a client-key check that wants the route
    await client.get("/api/market/price/BTC")
    assert spy.calls == 3
    layer.allow = None
    layer.routes = frozenset({"/api/market/price/{symbol}"})
    await client.get("/api/market/price/ETH/USD")
    assert spy.calls == 4
    await client.get("/api/market/price/BTC")
    assert spy.calls == 4


def _fast_layer(app: FastAPI) -> FastPathMiddleware:
    layer: Any = app.middleware_stack
    while not isinstance(layer, FastPathMiddleware):
        layer = layer.app
    return layer


def test_query_reading() -> None:
    assert _price_query(b"asset_class=stock") is AssetClass.STOCK
    assert _price_query(b"validate=false&force_refresh=0") is None
    assert _price_query(b"validate=true") is False
    assert _price_query(b"asset_class=crypto&asset_class=stock") is False
    assert _price_query(b"symbol=BTC") is False
