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


async def test_oversized_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/market/market-data",
        content=b"x" * (64 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 413  # the contract's status for a body too large
    assert "larger than" in resp.json()["detail"]


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/market/price/{symbol}" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_admission_limit_answers_fast_503_with_retry_after() -> None:
    import asyncio

    from marketsvc.api.middleware import AdmissionMiddleware

    gate = asyncio.Event()

    async def slow_app(scope, receive, send):  # type: ignore[no-untyped-def]
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = AdmissionMiddleware(slow_app, limit=2)
    transport = httpx.ASGITransport(app=mw)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        held = [asyncio.create_task(c.get("/api/market/price/BTC")) for _ in range(2)]
        await asyncio.sleep(0.05)
        rejected = await c.get("/api/market/price/BTC")
        probe = asyncio.create_task(c.get("/healthz"))
        assert rejected.status_code == 503
        assert rejected.headers["retry-after"] == "1"
        assert rejected.headers["content-type"] == "application/problem+json"
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert (await probe).status_code == 200
    assert mw.rejected == 1 and mw.in_flight == 0
