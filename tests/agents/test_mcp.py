"""The MCP server at /mcp, driven by the official SDK's own client over real HTTP.

The app runs under uvicorn in the test's event loop on a free port: the client speaks
streamable HTTP to it like any MCP client, and the test can still read the in-process
emulator's call log (``container.sandbox_app.state.sandbox.calls``) to prove that a repeated
call is answered by the cache."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from marketsvc.app import create_app
from tests._services import free_port
from tests.api.conftest import make_settings

EXPECTED_TOOLS = {
    "get_price", "get_prices", "get_history", "get_news", "get_technical", "get_fundamentals",
    "search_symbols", "get_analytics", "get_patterns", "get_anomalies",
}  # fmt: skip
PROVENANCE = {"source", "cached", "freshness", "age_seconds", "fetched_at", "sandbox"}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, str]]:
    app = create_app(make_settings(tmp_path, log_level="WARNING"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn exited"
        await asyncio.sleep(0.02)
    try:
        yield app, f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await task


def upstream_calls(app: FastAPI) -> int:
    return len(app.state.container.sandbox_app.state.sandbox.calls)


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data = result.structured_content
    assert isinstance(data, dict)
    # The text content is the same answer, for clients that only read text.
    assert json.loads(result.content[0].text) == data
    return data


async def test_tools_listed_and_each_answers_like_rest(served: tuple[FastAPI, str]) -> None:
    _app, url = served
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as s:
        init = await s.initialize()
        assert init.server_info.name == "marketsvc"
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == EXPECTED_TOOLS
        for tool in tools.values():
            assert len(tool.description or "") > 60, tool.name
            assert tool.annotations is not None and tool.annotations.read_only_hint
        price_schema = tools["get_price"].input_schema
        assert price_schema["required"] == ["symbol"]
        assert "pattern" in price_schema["properties"]["symbol"]
        assert "ctx" not in price_schema["properties"]

        price = structured(await s.call_tool("get_price", {"symbol": "BTC"}))
        assert price["symbol"] == "BTC" and price["price"] > 0
        assert set(price) >= PROVENANCE and price["sandbox"] is True

        batch = structured(await s.call_tool("get_prices", {"symbols": ["ETH", "AAPL", "ZZZQX"]}))
        results = batch["results"]
        assert [r["ok"] for r in results] == [True, True, False]
        assert results[1]["data"]["asset_class"] == "stock"
        assert results[2]["symbol"] == "ZZZQX" and "404" in results[2]["error"]

        history = structured(
            await s.call_tool("get_history", {"symbol": "AAPL", "days": 30, "timespan": "day"})
        )
        assert history["served_from"] == "history_store" and history["candles"]
        # A stock has no weekend bars.
        days = {date.fromisoformat(c["ts"][:10]).weekday() for c in history["candles"]}
        assert days <= {0, 1, 2, 3, 4}

        news = structured(await s.call_tool("get_news", {"symbol": "AAPL", "limit": 5}))
        assert 0 < len(news["articles"]) <= 5 and news["providers"]

        technical = structured(
            await s.call_tool("get_technical", {"symbol": "BTC", "indicators": ["rsi", "macd"]})
        )
        assert set(technical["indicators"]) == {"rsi", "macd"}
        assert len(technical["indicators"]["rsi"]["value"]) == len(technical["timestamps"])

        fundamentals = structured(await s.call_tool("get_fundamentals", {"symbol": "AAPL"}))
        assert fundamentals["symbol"] == "AAPL" and set(fundamentals) >= PROVENANCE

        found = structured(await s.call_tool("search_symbols", {"query": "BTC", "limit": 3}))
        assert found["matches"] and found["matches"][0]["symbol"] == "BTC"
        patterns = structured(await s.call_tool("get_patterns", {"symbol": "AAPL", "days": 90}))
        assert set(patterns) >= PROVENANCE and "candles_used" in patterns
        vol = structured(
            await s.call_tool("get_analytics", {"kind": "volatility", "symbols": ["AAPL"]})
        )
        assert set(vol) >= PROVENANCE and "convention" in vol
        anomalies = structured(await s.call_tool("get_anomalies", {"symbols": ["BTC"]}))
        assert set(anomalies) >= PROVENANCE

    # The same answers as REST, field for field (provenance aside: the REST call is a hit).
    async with httpx.AsyncClient(base_url=url.removesuffix("/mcp")) as rest:
        body = (await rest.get("/api/market/fundamentals/AAPL")).json()
    assert body["cached"] is True
    drop = {"cached", "age_seconds", "freshness"}
    assert {k: v for k, v in body.items() if k not in drop} == {
        k: v for k, v in fundamentals.items() if k not in drop
    }


async def test_second_call_is_a_cache_hit(served: tuple[FastAPI, str]) -> None:
    app, url = served
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        # A closed range: an open-ended one is keyed per forming-bar minute, and a repeat
        # across a minute boundary would rightly be a new answer.
        args = {"symbol": "ETH", "start": "2026-01-05", "end": "2026-03-02"}
        first = structured(await s.call_tool("get_history", args))
        before = upstream_calls(app)
        assert first["cached"] is False and before > 0
        second = structured(await s.call_tool("get_history", args))
        assert upstream_calls(app) == before  # 0 new upstream calls
        assert second["cached"] is True and second["candles"] == first["candles"]
        assert len(first["candles"]) == 56  # crypto trades every day
        structured(await s.call_tool("get_price", {"symbol": "SOL"}))
        before = upstream_calls(app)
        again = structured(await s.call_tool("get_price", {"symbol": "SOL"}))
        assert upstream_calls(app) == before and again["cached"] is True


async def test_errors_are_tool_errors_with_the_problem(served: tuple[FastAPI, str]) -> None:
    _, url = served
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        missing = await s.call_tool("get_price", {"symbol": "ZZZQX"})
        assert missing.is_error and "404" in missing.content[0].text
        assert "symbol-not-found" in missing.content[0].text
        bad = await s.call_tool("get_history", {"symbol": "AAPL", "start": "1900-01-01"})
        assert bad.is_error and "422" in bad.content[0].text
        invalid = await s.call_tool("get_price", {"symbol": "BTC USD"})
        assert invalid.is_error  # refused by the argument schema before any provider
