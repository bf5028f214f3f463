"""Hostile and awkward requests get a documented 4xx problem+json, never a 400/500; a batch
answers each item on its own; answers that are not failures do not degrade /health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from marketsvc.errors import UnsupportedError
from tests.api.conftest import make_settings, running_app

POST_ROUTES = (
    "/api/market/market-data",
    "/api/market/market-data/batch",
    "/api/market/cache/clear",
    "/api/market/prefetch",
)
JSON = {"content-type": "application/json", "authorization": "Bearer edge-token"}
BODIES = {
    "not UTF-8": (b'{"data_type": "price", "symbol": "\xff\xfe"}', JSON, 422, "UTF-8"),
    "not JSON": (b"data_type=price", JSON, 422, "not valid JSON"),
    "nested": (b"[" * 40 + b"]" * 40, JSON, 422, "deeper than 32"),
    "huge integer": (b'{"requests": [' + b"9" * 5000 + b"]}", JSON, 422, "too large"),
    "text/plain": (b'{"data_type": "price"}', {**JSON, "content-type": "text/plain"}, 415, "JSON"),
    "no type": (b'{"data_type": "price"}', {"authorization": "Bearer edge-token"}, 415, "JSON"),
    "oversized": (b'{"a": "' + b"x" * 70_000 + b'"}', JSON, 413, "larger than 65536"),
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(tmp_path, admin_token="edge-token")) as (_, c):
        yield c


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("case", sorted(BODIES))
async def test_awkward_bodies_get_documented_statuses(
    client: httpx.AsyncClient, route: str, case: str
) -> None:
    body, headers, status, words = BODIES[case]
    resp = await client.post(route, content=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert words in resp.json()["detail"]


async def test_an_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    resp = await client.post("/api/market/market-data", content=chunks(), headers=JSON)
    assert resp.status_code == 413


async def test_every_post_route_documents_its_body_statuses(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for route in POST_ROUTES:
        documented = set(spec["paths"][route]["post"]["responses"])
        assert {"413", "415", "422"} <= documented, route


async def test_a_batch_answers_the_valid_items_beside_an_invalid_one(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "requests": [
            {"data_type": "price", "symbol": "BTC"},
            {"data_type": "price", "symbol": "bad symbol!"},
            {"data_type": "nonsense", "symbol": "ETH"},
            {"data_type": "historical", "symbol": "AAPL", "params": {"days": 0}},
            {"data_type": "fundamentals", "symbol": "AAPL"},
        ]
    }
    resp = await client.post("/api/market/market-data/batch", json=body)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["ok"] for r in results] == [True, False, False, False, True]
    assert results[0]["data"]["source"] and results[4]["data"]["symbol"] == "AAPL"
    for bad, where in ((results[1], "symbol"), (results[2], "data_type"), (results[3], "days")):
        assert bad["error"]["status"] == 422 and where in bad["error"]["detail"]


async def test_unsupported_answers_do_not_degrade_health(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (app, c):
        runner = app.state.container.orchestrator.runner
        for _ in range(10):
            with pytest.raises(UnsupportedError):
                await runner.call_one(
                    "newsapi",
                    "quote",
                    lambda p: p.quote("AAPL", "stock"),
                    priority=3,
                    deadline=runner.deadline(3),
                )
        health = (await c.get("/api/market/health")).json()
        assert health["providers"]["newsapi"]["status"] == "up"
        assert health["providers"]["newsapi"]["calls"] == 10


async def test_l1_evictions_are_counted(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, cache_l1_max_size=2)) as (_, c):
        for symbol in ("BTC", "ETH", "SOL", "AAPL"):
            assert (await c.get(f"/api/market/price/{symbol}")).status_code == 200
        l1 = (await c.get("/api/market/cache/stats")).json()["tiers"]["l1"]
        assert (l1["size"], l1["evictions"]) == (2, 2)


async def test_prefetch_refuses_a_type_it_cannot_warm(client: httpx.AsyncClient) -> None:
    body = {"data_type": "analytics", "symbols": ["AAPL"]}
    resp = await client.post("/api/market/prefetch", json=body, headers=JSON)
    assert resp.status_code == 422
    assert "prefetch takes one of" in resp.text
