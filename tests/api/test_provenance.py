"""Every answer is what it says it is: freshness by the provider that answered and the data's
own time, a failed forced refresh says so, history names its providers, one timestamp format,
and the still-forming candle is not refetched on every request."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from marketsvc.cache.memory import MemoryTier
from marketsvc.cache.policy import default_policies
from marketsvc.cache.tiered import TieredCache
from marketsvc.config import Settings
from marketsvc.domain import AssetClass, DataType, Freshness
from marketsvc.orchestrator import serialize
from marketsvc.orchestrator.answers import CachedAnswers
from marketsvc.orchestrator.usage import UsageTracker
from marketsvc.providers._binance_parse import parse_ticker
from marketsvc.providers._finnhub_parse import parse_quote
from marketsvc.sandbox._framework import Fault
from tests.api.conftest import make_settings, running_app

# Recorded shapes (providers.md): a Binance 24 h ticker whose closeTime is in 2017, and
# Finnhub's documented quote sample (2020) that carries the previous close but no change.
BINANCE_2017 = {
    "symbol": "BTCUSDT", "priceChange": "-94.99999800", "priceChangePercent": "-95.960",
    "weightedAvgPrice": "0.29628482", "prevClosePrice": "0.10002000", "lastPrice": "4.00000200",
    "lastQty": "200.00000000", "bidPrice": "4.00000000", "askPrice": "4.00000200",
    "openPrice": "99.00000000", "highPrice": "100.00000000", "lowPrice": "0.10000000",
    "volume": "8913.30000000", "quoteVolume": "15.30000000", "openTime": 1499783499040,
    "closeTime": 1499869899040, "firstId": 28385, "lastId": 28460, "count": 76,
}  # fmt: skip
FINNHUB_2020 = {"c": 261.74, "h": 263.31, "l": 260.68, "o": 261.07, "pc": 259.45, "t": 1582641000}


def answers(providers: dict[str, Freshness]) -> CachedAnswers:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    cache = TieredCache([MemoryTier(100, 1_000_000)])
    return CachedAnswers(
        cache, default_policies(settings), UsageTracker(), provider_freshness=providers
    )


async def test_an_old_binance_ticker_is_never_realtime() -> None:
    quote = parse_ticker(BINANCE_2017, "BTC")

    async def load() -> tuple[dict[str, object], str]:
        return serialize.quote_data(quote), "binance"

    env = await answers({"binance": Freshness.REALTIME}).answer(
        DataType.PRICE, "crypto:BTC", {}, load, force_refresh=False
    )
    assert env.source == "binance" and env.age_seconds < 1  # fetched just now...
    assert env.freshness is Freshness.DELAYED  # ...but the quote itself is from 2017
    assert "days old" in env.extra["freshness_reason"]


async def test_finnhub_sample_is_delayed_and_its_change_is_derived() -> None:
    quote = parse_quote(FINNHUB_2020, "AAPL", AssetClass.STOCK, datetime.now(UTC))

    async def load() -> tuple[dict[str, object], str]:
        return serialize.quote_data(quote), "finnhub"

    env = await answers({"finnhub": Freshness.REALTIME}).answer(
        DataType.PRICE, "stock:AAPL", {}, load, force_refresh=False
    )
    assert env.freshness is Freshness.DELAYED
    assert env.data["change"] == pytest.approx(261.74 - 259.45)
    assert env.data["change_percent"] == pytest.approx((261.74 - 259.45) / 259.45 * 100)
    assert env.data["timestamp"] == "2020-02-25T14:30:00Z"


async def test_a_fresh_realtime_quote_stays_realtime() -> None:
    now = time.time()

    async def load() -> tuple[dict[str, object], str]:
        body = {**BINANCE_2017, "closeTime": int(now * 1000), "openTime": int(now * 1000) - 1}
        return serialize.quote_data(parse_ticker(body, "BTC")), "binance"

    env = await answers({"binance": Freshness.REALTIME}).answer(
        DataType.PRICE, "crypto:BTC", {}, load, force_refresh=False
    )
    assert env.freshness is Freshness.REALTIME and "freshness_reason" not in env.extra


async def test_a_fallback_answer_has_the_answering_providers_freshness(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (app, c):
        state = app.state.container.sandbox_app.state.sandbox
        state.providers["binance"].faults.append(Fault(kind="error", status=503))
        body = (await c.get("/api/market/price/BTC")).json()
        # Binance (real time) is down; CoinGecko (cached 60 s upstream) answers.
        assert (body["source"], body["freshness"]) == ("coingecko", "near_realtime")
        for name in ("coingecko", "coinmarketcap", "yahoo", "finnhub", "tiingo"):
            state.providers[name].faults.append(Fault(kind="error", status=503))
        body = (await c.get("/api/market/price/ETH")).json()
        assert (body["source"], body["freshness"]) == ("polygon", "delayed")


async def test_a_failed_forced_refresh_says_so(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (app, c):
        state = app.state.container.sandbox_app.state.sandbox
        first = (await c.get("/api/market/price/BTC")).json()
        assert "refresh_failed" not in first
        for st in state.providers.values():
            st.faults.append(Fault(kind="error", status=500))
        resp = await c.get("/api/market/price/BTC", params={"force_refresh": "true"})
        assert resp.status_code == 200
        body = resp.json()
        assert body["refresh_failed"] is True
        assert "every provider failed" in body["refresh_error"]
        assert body["price"] == first["price"] and body["fetched_at"] == first["fetched_at"]
        assert body["cached"] is True and body["age_seconds"] >= 0


async def test_history_names_its_provider_and_the_store(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        body = (await c.get("/api/market/historical/BTC", params={"days": 30})).json()
        assert body["source"] == "binance" and body["served_from"] == "history_store"
        [span] = body["providers"]
        assert span["provider"] == "binance" and span["candles"] == len(body["candles"])
        assert span["from"] == body["candles"][0]["ts"] and span["to"] == body["candles"][-1]["ts"]
        tech = (await c.get("/api/market/technical/AAPL")).json()
        assert tech["source"] == "yahoo" and tech["providers"][0]["provider"] == "yahoo"


async def test_history_from_two_providers_names_both_ranges(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (app, c):
        state = app.state.container.sandbox_app.state.sandbox
        old = {"start": "2025-01-01", "end": "2025-02-01"}
        await c.get("/api/market/historical/BTC", params=old)
        state.providers["binance"].faults.append(Fault(kind="error", status=503))
        both = {"start": "2025-01-01", "end": "2025-03-01"}
        body = (await c.get("/api/market/historical/BTC", params=both)).json()
        names = [s["provider"] for s in body["providers"]]
        assert names[0] == "binance" and len(names) == 2 and body["source"] == "+".join(names)
        assert sum(s["candles"] for s in body["providers"]) == len(body["candles"]) == 59


async def test_one_timestamp_format_on_get_and_post(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        got = (await c.get("/api/market/price/BTC")).json()
        posted = (
            await c.post("/api/market/market-data", json={"data_type": "price", "symbol": "BTC"})
        ).json()
        for body in (got, posted):
            assert body["fetched_at"].endswith("Z") and body["timestamp"].endswith("Z")
        hist = (await c.get("/api/market/historical/AAPL", params={"days": 10})).json()
        assert all(candle["ts"].endswith("Z") for candle in hist["candles"])


async def test_repeated_crypto_history_costs_no_upstream_call(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (app, c):
        state = app.state.container.sandbox_app.state.sandbox

        def klines() -> int:
            return sum(1 for call in state.calls if call.path.endswith("/klines"))

        first = await c.get("/api/market/historical/BTC", params={"days": 730})
        assert first.status_code == 200 and klines() >= 1
        before = klines()
        for days in (730, 730, 729, 365):  # the same range, and ranges inside it
            resp = await c.get("/api/market/historical/BTC", params={"days": days})
            assert resp.status_code == 200
        await c.get("/api/market/technical/BTC")
        assert klines() == before
