"""The analytics routes through the app on the emulator: answers with their conventions and
candles, problem+json for bad input, 0 upstream calls on a repeat, news sentiment, and the
server time of a 20-symbol correlation matrix over two years of stored daily candles."""

from __future__ import annotations

import math
import statistics
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import BaseModel

from marketsvc.api.analytics_schemas import (
    AnalyticsResponse,
    AnomaliesResponse,
    PatternsResponse,
    SentimentResponse,
)
from marketsvc.api.schemas import NewsResponse
from tests.api.conftest import make_settings, running_app

TWENTY = "AAPL,MSFT,GOOGL,AMZN,NVDA,META,TSLA,JPM,V,IBM,NFLX,SPY,BTC,ETH,SOL,BNB,XRP,ADA,DOGE,AVAX"


def upstream_calls(app: Any) -> int:
    state = app.state.container.sandbox_app.state.sandbox
    return sum(st.calls for st in state.providers.values())


async def _ok(c: httpx.AsyncClient, url: str, model: type[BaseModel], **params: Any) -> Any:
    r = await c.get(url, params=params)
    assert r.status_code == 200, r.text
    model.model_validate(r.json())
    return r.json()


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("returns", {"symbols": "AAPL,BTC", "method": "log"}),
        ("volatility", {"symbols": "AAPL,ETH", "window": 30}),
        ("drawdown", {"symbols": "MSFT"}),
        ("sharpe", {"symbols": "BTC", "risk_free": 0.04}),
        ("beta", {"symbols": "AAPL,ETH"}),
        ("correlation", {"symbols": "AAPL,MSFT,BTC"}),
    ],
)
async def test_each_kind_names_its_convention_and_its_candles(
    tmp_path: Path, kind: str, params: dict[str, Any]
) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        body = await _ok(c, f"/api/market/analytics/{kind}", AnalyticsResponse, days=200, **params)
    assert body["kind"] == kind
    conv = body["convention"]
    assert conv["returns"] == params.get("method", "simple")
    assert conv["days"] == "calendar days back from now"
    for used in body["candles_used"]:
        assert used["count"] > 100 and used["served_from"] == "history_store"
        assert used["source"] and used["providers"][0]["candles"] == used["count"]
        assert used["from"] < used["to"]
    if kind == "volatility":
        assert "sqrt(252)" in conv["volatility"] and "ddof 1" in conv["volatility"]
        by_symbol = {r["symbol"]: r for r in body["results"]}
        assert by_symbol["AAPL"]["periods_per_year"] == 252
        assert by_symbol["ETH"]["periods_per_year"] == 365
        assert by_symbol["AAPL"]["series"][:30] == [None] * 30
    if kind == "beta":
        benches = {r["symbol"]: r["benchmark"] for r in body["results"]}
        assert benches == {"AAPL": "SPY", "ETH": "BTC"}
        assert {u["symbol"] for u in body["candles_used"]} == {"AAPL", "ETH", "SPY", "BTC"}
    if kind == "correlation":
        m = np.array(body["correlation"]["matrix"], dtype=float)
        assert np.array_equal(m, m.T) and np.all(np.diag(m) == 1.0)
        assert "crypto every day" in conv["alignment"]
        assert body["correlation"]["dropped_candles"]["BTC"] > 0


async def test_volatility_is_computed_from_the_stored_candles(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        body = await _ok(
            c, "/api/market/analytics/volatility", AnalyticsResponse, symbols="ETH", days=120
        )
        used = body["candles_used"][0]
        last = date.fromisoformat(used["to"][:10])
        hist = await c.get(
            "/api/market/historical/ETH",
            params={"start": used["from"][:10], "end": (last + timedelta(days=1)).isoformat()},
        )
    closes = np.array([x["close"] for x in hist.json()["candles"]])
    assert closes.size == used["count"]
    expected = np.std(closes[1:] / closes[:-1] - 1.0, ddof=1) * math.sqrt(365)
    assert body["results"][0]["volatility_annualised"] == pytest.approx(expected, rel=1e-12)


async def test_bad_windows_and_too_many_symbols_are_problem_json(tmp_path: Path) -> None:
    twenty_one = TWENTY + ",DOT"
    cases = [
        ("/api/market/analytics/correlation", {"symbols": twenty_one}),
        ("/api/market/analytics/volatility", {"symbols": "AAPL", "days": 10, "window": 20}),
        ("/api/market/analytics/volatility", {"symbols": "AAPL", "window": 1}),
        ("/api/market/analytics/correlation", {"symbols": "AAPL"}),
        ("/api/market/analytics/median", {"symbols": "AAPL"}),
        ("/api/market/analytics/returns", {"symbols": "AAPL", "days": 5000}),
        ("/api/market/analytics/returns", {"symbols": "AAPL", "method": "cubic"}),
        ("/api/market/anomalies", {"symbols": "AAPL", "window": 3}),
        ("/api/market/anomalies", {"symbols": twenty_one}),
        ("/api/market/patterns/AAPL", {"days": 0}),
    ]
    async with running_app(make_settings(tmp_path)) as (_, c):
        for url, params in cases:
            r = await c.get(url, params=params)
            assert r.status_code == 422, (url, params, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["status"] == 422


@pytest.mark.parametrize(
    ("url", "params", "model"),
    [
        (
            "/api/market/analytics/correlation",
            {"symbols": "AAPL,MSFT,BTC", "days": 365},
            AnalyticsResponse,
        ),
        ("/api/market/analytics/beta", {"symbols": "NVDA", "days": 365}, AnalyticsResponse),
        ("/api/market/patterns/BTC", {"days": 365}, PatternsResponse),
        ("/api/market/anomalies", {"symbols": "AAPL,ETH", "days": 365}, AnomaliesResponse),
        ("/api/market/sentiment/AAPL", {"days": 7}, SentimentResponse),
    ],
)
async def test_a_second_request_makes_no_upstream_call(
    tmp_path: Path, url: str, params: dict[str, Any], model: type[BaseModel]
) -> None:
    async with running_app(make_settings(tmp_path)) as (app, c):
        first = await _ok(c, url, model, **params)
        assert first["cached"] is False
        calls = upstream_calls(app)
        assert calls > 0
        again = await _ok(c, url, model, **params)
        assert upstream_calls(app) == calls, "the repeat must be served from the cache"
        assert again["cached"] is True
        assert {k: v for k, v in again.items() if k not in {"cached", "age_seconds"}} == {
            k: v for k, v in first.items() if k not in {"cached", "age_seconds"}
        }


async def test_patterns_answer_lists_signals_and_levels(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        body = await _ok(c, "/api/market/patterns/AAPL", PatternsResponse, days=365)
    assert body["patterns"]["doji"]["talib"] == "CDLDOJI"
    assert set(body["patterns"]) >= {"hammer", "engulfing", "morning_star", "three_black_crows"}
    for hits in body["patterns"].values():
        assert hits["count"] == len(hits["signals"])
        assert all(s["value"] in (-100, -80, 80, 100) for s in hits["signals"])
    levels = body["levels"]
    assert all(lv["price"] < levels["last_close"] for lv in levels["support"])
    assert all(lv["price"] >= levels["last_close"] for lv in levels["resistance"])
    assert body["candles_used"]["count"] > 200


async def test_anomalies_say_what_was_checked(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        body = await _ok(c, "/api/market/anomalies", AnomaliesResponse, symbols="BTC,AAPL")
    assert body["convention"]["window"] == 90 and body["convention"]["threshold"] == 6.0
    for row in body["results"]:
        # The emulator's providers agree on every price and its series are smooth.
        assert row["validation"]["status"] == "agreed"
        assert row["anomalies"] == []
        assert row["judged_candles"] > 100


async def test_news_articles_carry_sentiment_and_the_sentiment_route_aggregates_it(
    tmp_path: Path,
) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        news = await _ok(c, "/api/market/news", NewsResponse, symbol="AAPL", limit=20)
        body = await _ok(c, "/api/market/sentiment/AAPL", SentimentResponse, days=7)
    for article in news["articles"]:
        s = article["sentiment"]
        assert s["method"] in ("vader", "alphavantage", "polygon_insights")
        assert -1.0 <= s["score"] <= 1.0 and s["label"] in ("positive", "neutral", "negative")
    assert body["overall"]["articles"] == len(body["articles"]) > 0
    assert sum(d["articles"] for d in body["daily"]) == len(body["articles"])
    assert set(body["methods"]) == {a["method"] for a in body["articles"]}
    assert [d["date"] for d in body["daily"]] == sorted(d["date"] for d in body["daily"])
    assert all(a["published_at"] >= body["from"] for a in body["articles"])


async def test_correlation_matrix_of_20_symbols_over_two_years_server_time(
    tmp_path: Path,
) -> None:
    async with running_app(make_settings(tmp_path, log_level="WARNING")) as (app, c):
        params = {"symbols": TWENTY, "days": 730}
        first = await _ok(c, "/api/market/analytics/correlation", AnalyticsResponse, **params)
        assert len(first["correlation"]["matrix"]) == 20
        assert first["correlation"]["observations"] > 450
        calls = upstream_calls(app)
        durations = []
        for _ in range(21):
            # force_refresh: past the answer cache, so each answer is computed from the
            # history store (which holds the two years now).
            r = await c.get(
                "/api/market/analytics/correlation", params={**params, "force_refresh": "true"}
            )
            assert r.status_code == 200
            durations.append(float(r.headers["server-timing"].split("dur=")[1]))
        assert upstream_calls(app) == calls, "stored history must not be fetched again"
        p50 = statistics.median(durations)
        print(f"\n20-symbol correlation, 2 years stored: server time p50 {p50:.1f} ms")
        assert p50 < 2000.0


async def test_the_generic_endpoint_points_analytics_types_to_their_routes(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        r = await c.post(
            "/api/market/market-data", json={"data_type": "analytics", "symbol": "AAPL"}
        )
    assert r.status_code == 422
    assert "/api/market/" in r.json()["detail"]
