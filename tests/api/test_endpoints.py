"""Every endpoint of the contract through the real app (lifespan included) on the in-process
emulator. Values come from the emulator's SYNTHETIC data and are checked against it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest

from marketsvc.sandbox import _synth
from tests.api.conftest import make_settings, running_app


def synth_price_matches(symbol: str, price: float, fetched_at: str) -> bool:
    """The emulator prices are constant within a minute; allow the minute before too."""
    t = datetime.fromisoformat(fetched_at).timestamp()
    return any(abs(_synth.price_at(symbol, t - d) - price) < 1e-6 * price for d in (0, 60))


async def test_price_crypto_and_stock_equal_the_emulator(client: httpx.AsyncClient) -> None:
    for symbol, asset_class in (("BTC", "crypto"), ("AAPL", "stock"), ("ETH-USD", "crypto")):
        resp = await client.get(f"/api/market/price/{symbol}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        base = symbol.split("-")[0]
        assert body["symbol"] == base and body["asset_class"] == asset_class
        assert body["sandbox"] is True and body["currency"] == "USD"
        assert synth_price_matches(base, body["price"], body["fetched_at"])
        for field in ("source", "cached", "freshness", "age_seconds", "fetched_at"):
            assert field in body
        assert resp.headers["server-timing"].startswith("upstream;dur=")


async def test_second_read_is_an_l1_hit(client: httpx.AsyncClient) -> None:
    first = (await client.get("/api/market/price/SOL")).json()
    resp = await client.get("/api/market/price/SOL")
    assert resp.headers["server-timing"].startswith("l1;dur=")
    body = resp.json()
    assert body["cached"] is True and body["price"] == first["price"]
    assert body["source"] == first["source"]


async def test_unknown_symbol_is_404_problem(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/market/price/NOPE123")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["detail"] == "unknown symbol NOPE123"


async def test_asset_class_override(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/market/price/AAPL", params={"asset_class": "crypto"})
    assert resp.status_code in (404, 503)  # no crypto provider lists AAPL


async def test_historical_days_and_range(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/market/historical/BTC", params={"days": 10})
    assert resp.status_code == 200, resp.text
    candles = resp.json()["candles"]
    assert 9 <= len(candles) <= 11
    ts = [c["ts"] for c in candles]
    assert ts == sorted(ts)
    day = int(datetime.fromisoformat(candles[0]["ts"]).timestamp())
    expected = _synth.bar("BTC", day, 86400)
    assert candles[0]["open"] == pytest.approx(expected.open)
    assert candles[0]["close"] == pytest.approx(expected.close)
    ranged = await client.get(
        "/api/market/historical/AAPL",
        params={"start": "2026-01-05", "end": "2026-01-10", "timespan": "day"},
    )
    assert ranged.status_code == 200
    assert [c["ts"][:10] for c in ranged.json()["candles"]] == [
        "2026-01-05",
        "2026-01-06",
        "2026-01-07",
        "2026-01-08",
        "2026-01-09",
    ]


async def test_historical_rejects_bad_ranges(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/market/historical/BTC", params={"days": 0})).status_code == 422
    bad = await client.get(
        "/api/market/historical/BTC", params={"start": "2026-01-10", "end": "2026-01-05"}
    )
    assert bad.status_code == 422
    assert (
        await client.get("/api/market/historical/BTC", params={"timespan": "decade"})
    ).status_code == 422


async def test_news_by_query_and_symbol(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/market/news", params={"query": "bitcoin", "limit": 5})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    arts = body["articles"]
    assert 1 <= len(arts) <= 5
    assert len({a["url"] for a in arts}) == len(arts)
    assert [a["published_at"] for a in arts] == sorted(
        (a["published_at"] for a in arts), reverse=True
    )
    assert all(a["title"].startswith("[synthetic]") for a in arts)
    assert body["providers"]
    by_symbol = await client.get("/api/market/news", params={"symbol": "AAPL", "limit": 3})
    assert by_symbol.status_code == 200
    assert (await client.get("/api/market/news")).status_code == 422


async def test_technical_indicators(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/api/market/technical/AAPL", params={"indicators": "rsi,macd,bbands", "period": 14}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    n = len(body["timestamps"])
    assert n > 50
    rsi = body["indicators"]["rsi"]["value"]
    assert len(rsi) == n and rsi[0] is None
    assert all(0 <= v <= 100 for v in rsi if v is not None)
    assert set(body["indicators"]["macd"]) == {"macd", "signal", "hist"}
    bb = body["indicators"]["bbands"]
    i = n - 1
    assert bb["lower"][i] <= bb["middle"][i] <= bb["upper"][i]
    bad = await client.get("/api/market/technical/AAPL", params={"indicators": "nope"})
    assert bad.status_code == 422
    assert (await client.get("/api/market/technical/AAPL", params={"period": 1})).status_code == 422


async def test_fundamentals(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/market/fundamentals/AAPL")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["symbol"] == "AAPL" and "(synthetic)" in body["name"]
    assert (await client.get("/api/market/fundamentals/NOPE123")).status_code == 404


async def test_generic_envelope_and_batch(client: httpx.AsyncClient) -> None:
    one = await client.post(
        "/api/market/market-data",
        json={"data_type": "crypto_price", "symbol": "ETH", "priority": "HIGH"},
    )
    assert one.status_code == 200, one.text
    assert one.json()["data_type"] == "crypto_price" and one.json()["symbol"] == "ETH"
    batch = await client.post(
        "/api/market/market-data/batch",
        json={
            "requests": [
                {"data_type": "price", "symbol": "BTC"},
                {"data_type": "stock_price", "symbol": "NOPE123"},
                {"data_type": "historical", "symbol": "BTC", "params": {"days": "x"}},
                {"data_type": "news", "params": {"query": "ethereum", "limit": 2}},
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["ok"] for r in results] == [True, False, False, True]
    assert results[1]["error"]["status"] == 404
    assert results[2]["error"]["status"] == 422


@pytest.mark.parametrize(
    "body",
    [
        {"data_type": "weather", "symbol": "BTC"},
        {"data_type": "price", "symbol": "BTC$"},
        {"data_type": "price", "symbol": "BTC", "priority": "NOW"},
        {"data_type": "price", "symbol": "BTC", "surprise": 1},
    ],
)
async def test_generic_envelope_rejects_bad_input(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    resp = await client.post("/api/market/market-data", json=body)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_batch_over_100_is_422(client: httpx.AsyncClient) -> None:
    reqs = [{"data_type": "price", "symbol": "BTC"}] * 101
    resp = await client.post("/api/market/market-data/batch", json={"requests": reqs})
    assert resp.status_code == 422


async def test_stats_health_cache_stats_metrics(client: httpx.AsyncClient) -> None:
    await client.get("/api/market/price/BTC")
    await client.get("/api/market/price/BTC")
    stats = (await client.get("/api/market/stats")).json()
    assert stats["requests_last_hour"] >= 2 and stats["sandbox"] is True
    assert stats["calls_per_provider"]["binance"] >= 1
    assert "binance" in stats["planner"]
    assert stats["planner"]["binance"]["windows"][0]["left"] >= 0
    health = (await client.get("/api/market/health")).json()
    assert health["providers"]["binance"]["status"] == "up"
    cache = (await client.get("/api/market/cache/stats")).json()
    assert cache["tiers"]["l1"]["hits"] >= 1
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'marketsvc_http_requests_total{method="GET",route="/api/market/price/{symbol}"' in text
    assert "marketsvc_planner_queue_depth" in text and "marketsvc_breaker_state" in text
    assert "marketsvc_quota_left" in text


async def test_openapi_lists_every_contract_endpoint(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    expected = {
        ("get", "/api/market/price/{symbol}"),
        ("get", "/api/market/historical/{symbol}"),
        ("get", "/api/market/news"),
        ("get", "/api/market/technical/{symbol}"),
        ("get", "/api/market/fundamentals/{symbol}"),
        ("post", "/api/market/market-data"),
        ("post", "/api/market/market-data/batch"),
        ("get", "/api/market/cache/stats"),
        ("post", "/api/market/cache/clear"),
        ("get", "/api/market/stats"),
        ("get", "/api/market/health"),
        ("post", "/api/market/prefetch"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    }
    present = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert expected <= present
    for method, path in expected:
        assert (
            "200" in spec["paths"][path][method]["responses"]
            or "202" in spec["paths"][path][method]["responses"]
        )
    price_schema = spec["components"]["schemas"]["PriceResponse"]["properties"]
    for field in (
        "symbol",
        "price",
        "change",
        "change_percent",
        "timestamp",
        "currency",
        "asset_class",
        "source",
        "cached",
        "freshness",
        "age_seconds",
        "fetched_at",
    ):
        assert field in price_schema


async def test_admin_endpoints_403_without_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/market/cache/clear", json={})).status_code == 403
    resp = await client.post(
        "/api/market/prefetch", json={"data_type": "price", "symbols": ["BTC"]}
    )
    assert resp.status_code == 403


async def test_admin_with_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin_token="admin-secret-1")
    async with running_app(settings) as (_, c):
        assert (await c.post("/api/market/cache/clear", json={})).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await c.post("/api/market/cache/clear", json={}, headers=wrong)).status_code == 401
        ok = {"Authorization": "Bearer admin-secret-1"}
        await c.get("/api/market/price/BTC")
        cleared = await c.post("/api/market/cache/clear", json={"symbol": "BTC"}, headers=ok)
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["cleared"]["l1"] >= 1
        after = await c.get("/api/market/price/BTC")
        assert after.headers["server-timing"].startswith(("upstream", "l3"))
        pre = await c.post(
            "/api/market/prefetch",
            headers=ok,
            json={"data_type": "price", "symbols": ["ETH", "SOL"]},
        )
        assert pre.status_code == 202 and pre.json()["accepted"] == 2
        bad = await c.post("/api/market/cache/clear", headers=ok, json={"symbol": "*"})
        assert bad.status_code == 422


@pytest.mark.parametrize(
    "query", ["asset_class=bond", "validate=maybe", "force_refresh=2", "force_refresh="]
)
async def test_price_query_is_validated_strictly(client: httpx.AsyncClient, query: str) -> None:
    resp = await client.get(f"/api/market/price/BTC?{query}")
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_price_query_parameters_are_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    params = {p["name"] for p in spec["paths"]["/api/market/price/{symbol}"]["get"]["parameters"]}
    assert params == {"symbol", "asset_class", "validate", "force_refresh"}


async def test_batch_answers_slow_items_as_503_at_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marketsvc.api.routes import generic
    from marketsvc.sandbox._framework import Fault

    monkeypatch.setattr(generic, "BATCH_DEADLINE_SECONDS", 0.5)
    async with running_app(make_settings(tmp_path)) as (app, c):
        state = app.state.container.sandbox_app.state.sandbox
        state.providers["finnhub"].faults.append(Fault(kind="latency", seconds=3))
        resp = await c.post(
            "/api/market/market-data/batch",
            json={
                "requests": [
                    {"data_type": "crypto_price", "symbol": "BTC"},
                    {"data_type": "stock_price", "symbol": "AAPL", "force_refresh": True},
                ]
            },
        )
    assert resp.status_code == 200
    first, second = resp.json()["results"]
    assert first["ok"] is True and first["data"]["symbol"] == "BTC"
    assert second["ok"] is False
    assert second["error"]["status"] == 503 and second["error"]["retry_after"] >= 1


async def test_sql_tier_answers_as_l3_without_redis(tmp_path: Path) -> None:
    """Server-Timing names the tier that answered; with no Redis configured the SQL tier is
    still "l3" (one L1 slot, two symbols alternating: the third read misses L1)."""
    async with running_app(make_settings(tmp_path, cache_l1_max_size=1)) as (_, c):
        await c.get("/api/market/price/BTC")
        await c.get("/api/market/price/ETH")
        again = await c.get("/api/market/price/BTC")
    assert again.headers["server-timing"].startswith("l3;dur="), again.headers["server-timing"]
    assert again.json()["cached"] is True
