"""The real PolygonProvider against the in-process Massive emulator: every capability returns
what _synth computes, and the emulator's throttle, auth and fault answers become typed errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.errors import (
    ProviderError,
    SymbolNotFoundError,
)
from marketsvc.sandbox import create_sandbox_app
from marketsvc.sandbox._synth import bar, bars, is_trading_day, price_at
from tests._sandbox import SANDBOX_KEY, adapter_on_sandbox, previous_session

ROOMY = {"polygon": "1000/minute"}  # the real 5/minute would throttle a multi-call test


def as_tuples(candles: list[Candle]) -> list[tuple[float, ...]]:
    return [(c.ts.timestamp(), c.open, c.high, c.low, c.close, c.volume or 0.0) for c in candles]


@pytest.mark.parametrize(
    ("symbols", "asset_class"),
    [(["AAPL", "BRK.B", "ZZZZ"], AssetClass.STOCK), (["BTC", "ETH"], AssetClass.CRYPTO)],
)
async def test_batch_quotes_are_live_synthetic_prices(
    symbols: list[str], asset_class: AssetClass
) -> None:
    crypto = asset_class is AssetClass.CRYPTO
    async with adapter_on_sandbox("polygon", limits=ROOMY) as (provider, state):
        out = await provider.quotes(symbols, asset_class)
        calls = [c for c in state.calls if "/snapshot/" in c.path]
    assert len(calls) == 1  # one upstream call for the whole batch
    for symbol in symbols:
        q = out[symbol]
        if symbol == "ZZZZ":
            assert isinstance(q, SymbolNotFoundError)
            continue
        assert not isinstance(q, ProviderError)
        t = q.timestamp.timestamp()
        prev = bar(symbol, previous_session(t, crypto=crypto), 86400).close
        # The emulator served the price of the minute it stamped the trade with.
        assert q.price == price_at(symbol, t)
        assert q.previous_close == prev
        assert q.change == pytest.approx(q.price - prev)


# Day bars are also in the provider contract suite, on a recent window.
@pytest.mark.parametrize("interval", [Interval.MINUTE, Interval.HOUR, Interval.WEEK])
async def test_crypto_history_matches_synthetic_bars(interval: Interval) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(seconds=interval.seconds * 50)
    async with adapter_on_sandbox("polygon", limits=ROOMY) as (provider, _):
        candles = await provider.history("BTC", AssetClass.CRYPTO, interval, start, end)
    expected = bars(
        "BTC", int(start.timestamp()), int(end.timestamp()), interval.seconds, stock=False
    )
    assert len(candles) == len(expected) > 0
    assert as_tuples(candles) == [
        (b.start, b.open, b.high, b.low, b.close, b.volume) for b in expected
    ]


async def test_stock_minute_history_has_only_session_bars() -> None:
    start = datetime(2024, 5, 1, 14, tzinfo=UTC)  # a Wednesday; the session opens at 14:30
    end = start + timedelta(hours=2)
    async with adapter_on_sandbox("polygon", limits=ROOMY) as (provider, _):
        candles = await provider.history("AAPL", AssetClass.STOCK, Interval.MINUTE, start, end)
    expected = bars("AAPL", int(start.timestamp()), int(end.timestamp()), 60, stock=True)
    assert len(candles) == 90
    assert candles[0].ts == datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    assert as_tuples(candles) == [
        (b.start, b.open, b.high, b.low, b.close, b.volume) for b in expected
    ]


async def test_long_hourly_history_pages_through_next_url() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=2000)  # 120000 base minutes: three pages of <= 50000
    async with adapter_on_sandbox("polygon", limits=ROOMY) as (provider, state):
        candles = await provider.history("BTC", AssetClass.CRYPTO, Interval.HOUR, start, end)
        paged = [c for c in state.calls if "cursor" in c.query]
    assert len(paged) == 2
    assert len(candles) == 2000
    assert candles[0].ts == start and candles[-1].ts == end - timedelta(hours=1)
    assert candles[1234].close == bar("BTC", int(candles[1234].ts.timestamp()), 3600).close


async def test_recent_daily_history_stops_at_the_last_closed_day() -> None:
    async with adapter_on_sandbox("polygon", limits=ROOMY) as (provider, state):
        now = datetime.fromtimestamp(state.now(), tz=UTC)
        candles = await provider.history(
            "AAPL",
            AssetClass.STOCK,
            Interval.DAY,
            now - timedelta(days=30),
            now + timedelta(days=2),
        )
        today = math.floor(state.now() / 86400) * 86400
    assert candles and all(c.ts.timestamp() < today for c in candles)
    assert all(is_trading_day(c.ts.timestamp()) for c in candles)


async def test_search_finds_stocks_and_coins() -> None:
    async with adapter_on_sandbox("polygon", limits=ROOMY) as (provider, _):
        found = await provider.search("apple")
        coins = await provider.search("bitcoin")
    assert [m.symbol for m in found] == ["AAPL"]
    pairs = [(m.symbol, m.asset_class, m.provider_symbol) for m in coins]
    assert ("BTC", AssetClass.CRYPTO, "X:BTCUSD") in pairs  # Bitcoin Cash matches too
    assert all(m.asset_class is AssetClass.CRYPTO for m in coins)


async def test_coin_misses_are_cached() -> None:
    async with adapter_on_sandbox("polygon", limits=ROOMY) as (provider, state):
        for _ in range(2):
            with pytest.raises(SymbolNotFoundError):
                await provider.quote("NOPE", AssetClass.CRYPTO)
        lookups = [c for c in state.calls if c.path.endswith("/v3/reference/tickers")]
    assert len(lookups) == 1 and lookups[0].query["ticker"] == "X:NOPEUSD"


async def test_emulator_requires_the_key_like_massive() -> None:
    app = create_sandbox_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.local") as client:
        bare = await client.get("/polygon/v2/aggs/ticker/AAPL/prev")
        keyed = await client.get(
            "/polygon/v2/aggs/ticker/AAPL/prev", headers={"Authorization": f"Bearer {SANDBOX_KEY}"}
        )
    assert bare.status_code == 401
    assert bare.json()["status"] == "ERROR" and "API Key" in bare.json()["error"]
    assert keyed.status_code == 200 and keyed.json()["resultsCount"] == 1
    logged = [v for c in app.state.sandbox.calls for v in c.query.values()]
    assert SANDBOX_KEY not in logged
