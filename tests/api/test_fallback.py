"""Fallback, breakers and serve-stale through the real app on the in-process emulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from marketsvc.sandbox._framework import Fault
from tests.api.conftest import make_settings, running_app


async def test_primary_failing_answers_from_next_provider_and_breaker_cycles(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, breaker_base_break=0.5)
    async with running_app(settings) as (app, c):
        container = app.state.container
        state = container.sandbox_app.state.sandbox
        state.providers["binance"].faults.append(Fault(kind="error", status=503))
        sources = []
        for _ in range(6):
            resp = await c.get("/api/market/price/BTC", params={"force_refresh": "true"})
            assert resp.status_code == 200, resp.text
            sources.append(resp.json()["source"])
        assert "binance" not in sources
        assert sources[0] == "coingecko"  # next in the crypto chain, labelled as such
        health = (await c.get("/api/market/health")).json()
        assert health["providers"]["binance"]["status"] == "down"
        assert health["providers"]["binance"]["circuit"]["state"] == "open"
        # Recovery: the upstream heals, the break passes, a half-open probe closes it.
        state.providers["binance"].faults.clear()
        await asyncio.sleep(0.6)
        resp = await c.get("/api/market/price/BTC", params={"force_refresh": "true"})
        assert resp.json()["source"] == "binance"
        health = (await c.get("/api/market/health")).json()
        assert health["providers"]["binance"]["circuit"]["state"] == "closed"


async def test_all_failing_serves_stale_or_503_with_retry_after(tmp_path: Path) -> None:
    # News: fresh for 1 s (L2 TTL), servable as stale for an hour (L3 TTL).
    settings = make_settings(tmp_path, cache_l2_default_ttl=1, cache_l3_default_ttl=3600)
    async with running_app(settings) as (app, c):
        state = app.state.container.sandbox_app.state.sandbox
        first = await c.get("/api/market/news", params={"query": "bitcoin", "limit": 3})
        assert first.status_code == 200
        for st in state.providers.values():
            st.faults.append(Fault(kind="error", status=500))
        await asyncio.sleep(1.2)
        stale = await c.get("/api/market/news", params={"query": "bitcoin", "limit": 3})
        assert stale.status_code == 200, stale.text
        body = stale.json()
        assert body["freshness"] == "stale" and body["age_seconds"] >= 1.0
        assert body["articles"] == first.json()["articles"]
        nothing = await c.get("/api/market/news", params={"query": "never-fetched"})
        assert nothing.status_code == 503
        assert int(nothing.headers["retry-after"]) >= 1
        assert nothing.headers["content-type"].startswith("application/problem+json")
