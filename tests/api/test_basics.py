from __future__ import annotations

import httpx
import pytest


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


@pytest.mark.parametrize("bad", ["BTC$", "a" * 33, "BT C", "%3Cscript%3E"])
async def test_bad_symbol_is_a_422_problem(client: httpx.AsyncClient, bad: str) -> None:
    resp = await client.get(f"/api/market/price/{bad}")
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == 422 and body["title"] == "Invalid input"
    assert "Traceback" not in resp.text


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/market/nope")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_oversized_body_is_refused_with_422(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/market/market-data",
        content=b"x" * (64 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 422
    assert "larger than" in resp.json()["detail"]


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/market/price/{symbol}" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
