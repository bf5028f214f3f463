"""Any real symbol resolves (issue 11 §2), through the app on the emulator: the symbol
universes are fetched from the emulated providers' lists, stored, loaded by a second process
from storage, and used to resolve long-tail coins and stocks, ambiguous tickers and /search."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import httpx
import pytest
from fastapi import FastAPI

from marketsvc.config import Settings
from marketsvc.domain import AssetClass, SymbolMatch
from marketsvc.jobs.refresh import UNIVERSE_REFRESH_INTERVAL, default_jobs
from marketsvc.orchestrator import DataOrchestrator
from marketsvc.sandbox import SandboxState, _synth, _universe
from marketsvc.symbols import TOP_COINS
from tests.api.conftest import make_settings, running_app

CRYPTO_SOURCES = {"binance", "coingecko", "coinmarketcap", "yahoo", "finnhub", "tiingo"}
STOCK_SOURCES = {"finnhub", "yahoo", "tiingo", "polygon", "alphavantage"}
AMBIGUOUS = {t for t, _, _ in _universe.AMBIGUOUS}
# 50 real long-tail coins and 20 real stocks that no built-in table of the service holds.
LONG_TAIL_COINS = [t for t, _ in _universe.LONG_TAIL_COINS if t not in AMBIGUOUS][:50]
LONG_TAIL_STOCKS = [t for t, _ in _universe.LONG_TAIL_STOCKS][:20]


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    # Massive's free 5 calls a minute would pace its six list pages over a minute: it has
    # its own paging test; here the other five lists make the universes.
    return make_settings(tmp_path, polygon_enabled=False, **overrides)


def orchestrator(app: FastAPI) -> DataOrchestrator:
    orch: DataOrchestrator = app.state.container.orchestrator
    return orch


def emulator(app: FastAPI) -> SandboxState:
    state: SandboxState = app.state.container.sandbox_app.state.sandbox
    return state


@pytest.fixture
async def loaded(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(settings(tmp_path)) as (app, client):
        await orchestrator(app).universes.ready.wait()
        result = await orchestrator(app).refresh_universes()
        assert all(isinstance(n, int) and n > 0 for n in result.values()), result
        yield app, client


def test_the_chosen_symbols_are_outside_every_built_in_table() -> None:
    assert len(LONG_TAIL_COINS) == 50 and len(LONG_TAIL_STOCKS) == 20
    assert not set(LONG_TAIL_COINS) & set(TOP_COINS)
    assert not set(LONG_TAIL_STOCKS) & set(TOP_COINS)
    assert {"PEPE", "ICP", "HBAR", "AAVE"} <= set(LONG_TAIL_COINS)


async def test_universe_sizes_follow_the_emulated_lists(
    loaded: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, _ = loaded
    sizes = orchestrator(app).universes.stats()["sizes"]
    assert sizes["coingecko:crypto"] >= 5000 and sizes["coinmarketcap:crypto"] >= 5000
    assert sizes["binance:crypto"] >= 1000 and sizes["finnhub:crypto"] >= 1000
    assert sizes["finnhub:stock"] == len(_synth.STOCKS) == sizes["tiingo:stock"]
    assert sizes["merged:crypto"] == len(_synth.LISTED_COINS)
    assert sizes["merged:stock"] == len(_synth.STOCKS)
    calls = [c.path for c in emulator(app).calls]
    # CMC's map has more than 5,000 active coins: two pages.
    assert sum("cryptocurrency/map" in p for p in calls) == 2


async def test_long_tail_coins_and_stocks_resolve(
    loaded: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = loaded
    for symbol in LONG_TAIL_COINS:
        resp = await client.get(f"/api/market/price/{symbol}")
        body = resp.json()
        assert resp.status_code == 200, (symbol, body)
        assert body["asset_class"] == "crypto" and body["symbol"] == symbol
        assert body["source"] in CRYPTO_SOURCES and body["sandbox"] is True
        assert "resolution" not in body
        assert body["price"] == pytest.approx(_synth.price_at(symbol, time.time()), rel=0.05)
    for symbol in LONG_TAIL_STOCKS:
        resp = await client.get(f"/api/market/price/{symbol}")
        body = resp.json()
        assert resp.status_code == 200, (symbol, body)
        assert body["asset_class"] == "stock" and body["source"] in STOCK_SOURCES
        assert "resolution" not in body


async def test_before_the_universes_load_a_long_tail_coin_is_not_found(tmp_path: Path) -> None:
    """The old behaviour, kept as the cold-start fallback: only the built-in table counts."""
    async with running_app(settings(tmp_path)) as (app, client):
        await orchestrator(app).universes.ready.wait()
        assert (await client.get("/api/market/price/PEPE")).status_code == 404
        assert (await client.get("/api/market/price/BTC")).json()["asset_class"] == "crypto"
        assert not any("coins/list" in c.path for c in emulator(app).calls)  # no fetch on its own


async def test_ambiguous_tickers_say_which_reading_answered(
    loaded: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = loaded
    stx = (await client.get("/api/market/price/STX")).json()
    assert stx["asset_class"] == "stock" and stx["source"] in STOCK_SOURCES
    assert stx["resolution"] == {
        "asset_class": "stock",
        "ambiguous": True,
        "hint": "asset_class=crypto for the coin",
    }
    coin = (await client.get("/api/market/price/STX", params={"asset_class": "crypto"})).json()
    assert coin["asset_class"] == "crypto" and "resolution" not in coin
    link = (await client.get("/api/market/price/LINK")).json()
    assert link["asset_class"] == "crypto"
    assert link["resolution"]["hint"] == "asset_class=stock for the stock"
    hist = await client.get("/api/market/historical/DASH", params={"days": 5})
    assert hist.status_code == 200 and hist.json()["resolution"]["asset_class"] == "stock"


async def test_a_stock_not_found_is_retried_as_the_coin_before_a_404(
    loaded: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = loaded
    # A stock list that still carries HBAR (say, a delisting the daily refresh has not seen):
    # both universes know it, so a bare HBAR is read as a stock first.
    stale = [SymbolMatch("HBAR", "HBAR HOLDINGS (DELISTED)", AssetClass.STOCK, "HBAR", "tiingo")]
    await orchestrator(app).universes.store.replace("tiingo", AssetClass.STOCK, stale, 1.0)
    resp = await client.get("/api/market/price/HBAR")
    body = resp.json()
    assert resp.status_code == 200, body
    assert body["asset_class"] == "crypto" and body["source"] in CRYPTO_SOURCES
    assert body["resolution"]["asset_class"] == "crypto"
    assert body["resolution"]["hint"] == "asset_class=stock for the stock"
    assert "no stock provider knows HBAR" in body["resolution"]["reason"]
    asked = [c.path for c in emulator(app).calls if c.provider == "finnhub"]
    assert any(p.endswith("/quote") for p in asked)  # the stock reading was really tried
    # Forcing the stock reading still answers 404, as the hint implies.
    forced = await client.get("/api/market/price/HBAR", params={"asset_class": "stock"})
    assert forced.status_code == 404


async def test_search_serves_from_stored_universes_without_upstream_calls(
    loaded: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = loaded
    state = emulator(app)
    before = len(state.calls)
    queries = ["pe", "PEPE", "icp", "hedera", "stx", "apple", "technolog", "bit", "a", "zz"]
    durations: list[float] = []
    server: list[float] = []
    for i in range(200):
        t0 = time.perf_counter()
        resp = await client.get("/api/market/search", params={"q": queries[i % len(queries)]})
        durations.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200
        server.append(float(resp.headers["server-timing"].split("dur=")[1]))
    assert len(state.calls) == before  # 0 upstream calls for 200 searches
    p50, server_p50 = statistics.median(durations), statistics.median(server)
    print(f"/search p50 in-process {p50:.3f} ms, server-timing p50 {server_p50:.3f} ms")
    assert server_p50 < 20.0

    pepe = (await client.get("/api/market/search", params={"q": "pepe"})).json()
    assert pepe["query"] == "pepe" and pepe["count"] == len(pepe["matches"])
    first = pepe["matches"][0]
    assert first["symbol"] == "PEPE" and first["asset_class"] == "crypto"
    assert first["name"] == "Pepe"
    assert {"binance", "coingecko", "coinmarketcap"} <= set(first["providers"])
    stx = (await client.get("/api/market/search", params={"q": "STX"})).json()["matches"]
    assert [(m["symbol"], m["asset_class"]) for m in stx[:2]] == [
        ("STX", "stock"),
        ("STX", "crypto"),
    ]
    by_name = (await client.get("/api/market/search", params={"q": "hedera"})).json()
    assert by_name["matches"][0]["symbol"] == "HBAR"
    stocks = await client.get(
        "/api/market/search", params={"q": "syn", "asset_class": "stock", "limit": 50}
    )
    rows = stocks.json()["matches"]
    assert len(rows) == 50 and {m["asset_class"] for m in rows} == {"stock"}
    assert all(m["symbol"].startswith("SYN") for m in rows)
    assert len((await client.get("/api/market/search", params={"q": "a"})).json()["matches"]) == 10


@pytest.mark.parametrize(
    "params",
    [{"q": ""}, {"q": "   "}, {}, {"q": "pe", "limit": 51}, {"q": "pe", "limit": 0},
     {"q": "pe", "asset_class": "bond"}],
)  # fmt: skip
async def test_search_rejects_bad_queries(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    resp = await client.get("/api/market/search", params=params)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_a_second_process_loads_the_stored_universes_without_fetching(
    tmp_path: Path,
) -> None:
    async with running_app(settings(tmp_path)) as (app, _):
        await orchestrator(app).universes.ready.wait()
        await orchestrator(app).refresh_universes()
    # Same database, new process (its own emulator, whose call log starts empty); the
    # scheduler is on, so anything missing or stale would be fetched: nothing is.
    async with running_app(settings(tmp_path, scheduler_enabled=True)) as (app, client):
        await orchestrator(app).universes.ready.wait()
        assert orchestrator(app).universes.store.index.knows("PEPE", AssetClass.CRYPTO)
        assert not any(
            "coins/list" in c.path or "stock/symbol" in c.path for c in emulator(app).calls
        )
        resp = await client.get("/api/market/price/PEPE")
        assert resp.status_code == 200 and resp.json()["asset_class"] == "crypto"


async def test_a_first_start_with_the_scheduler_fetches_the_missing_lists(
    tmp_path: Path,
) -> None:
    async with running_app(settings(tmp_path, scheduler_enabled=True)) as (app, client):
        orch = orchestrator(app)
        await orch.universes.ready.wait()
        for _ in range(200):  # the fetch runs in the background at LOW priority
            if orch.universes.store.index.knows("ICP", AssetClass.CRYPTO):
                break
            await asyncio.sleep(0.05)
        assert orch.universes.store.index.knows("ICP", AssetClass.CRYPTO)
        assert (await client.get("/api/market/price/ICP")).json()["asset_class"] == "crypto"


def test_the_daily_job_refreshes_the_universes(tmp_path: Path) -> None:
    orch = Mock(spec=DataOrchestrator)
    jobs = {j.name: j for j in default_jobs(orch, settings(tmp_path))}
    assert jobs["symbol_universes"].interval == UNIVERSE_REFRESH_INTERVAL == 86400.0
    assert jobs["symbol_universes"].func is orch.refresh_universes


async def test_openapi_documents_search_and_the_resolution_field(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"]["/api/market/search"]["get"]
    assert op["operationId"] == "search"
    assert {p["name"] for p in op["parameters"]} == {"q", "asset_class", "limit"}
    assert "422" in op["responses"]
    schemas = spec["components"]["schemas"]
    assert set(schemas["SymbolMatchOut"]["properties"]) == {
        "symbol",
        "name",
        "asset_class",
        "providers",
    }
    assert "resolution" in schemas["PriceResponse"]["properties"]


async def test_every_answer_reads_a_long_tail_coin_by_the_same_universes(
    loaded: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """Analytics, patterns and charts resolve symbols as prices do (not by the built-in
    table, which would read PEPE as a stock)."""
    _, client = loaded
    for path in (
        "/api/market/analytics/volatility?symbols=PEPE&days=60",
        "/api/market/patterns/PEPE?days=60",
    ):
        resp = await client.get(path)
        assert resp.status_code == 200, (path, resp.text)
        used = resp.json()["candles_used"]
        first = used[0] if isinstance(used, list) else used
        assert (first["symbol"], first["asset_class"]) == ("PEPE", "crypto"), used
    chart = await client.get("/api/market/chart/PEPE?days=60&format=svg")
    assert chart.status_code == 200 and chart.headers["x-data-source"] in {"binance", "coingecko"}
