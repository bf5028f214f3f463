"""The real TiingoProvider against the in-process Tiingo emulator: every capability returns
what _synth computes, and the emulator's quota, auth and fault answers become typed errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.errors import (
    ProviderError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.sandbox import create_sandbox_app
from marketsvc.sandbox._synth import STOCKS, Bar, bars, is_trading_day, price_at
from tests._sandbox import SANDBOX_KEY, adapter_on_sandbox


def as_tuples(candles: list[Candle]) -> list[tuple[float, ...]]:
    return [(c.ts.timestamp(), c.open, c.high, c.low, c.close, c.volume or 0.0) for c in candles]


def synthetic(expected: list[Bar], *, whole_volume: bool) -> list[tuple[float, ...]]:
    # Tiingo sends equity volume as whole shares.
    return [
        (b.start, b.open, b.high, b.low, b.close, round(b.volume) if whole_volume else b.volume)
        for b in expected
    ]


async def test_stock_quote_is_the_live_tngo_last() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, _):
        q = await provider.quote("AAPL", AssetClass.STOCK)
    t = q.timestamp.timestamp()
    day_start = math.floor(t / 86400) * 86400
    assert q.price == price_at("AAPL", t)
    assert q.previous_close == price_at("AAPL", day_start - 60)
    assert q.change == pytest.approx(q.price - q.previous_close)
    assert q.open == price_at("AAPL", day_start)
    assert q.source == "tiingo" and q.currency == "USD"


@pytest.mark.parametrize(
    ("symbols", "asset_class", "path"),
    [
        (["AAPL", "BRK.B", "ZZZZ"], AssetClass.STOCK, "/tiingo/iex"),
        (["BTC", "SOL"], AssetClass.CRYPTO, "/tiingo/tiingo/crypto/top"),
    ],
)
async def test_batch_quotes_take_one_call(
    symbols: list[str], asset_class: AssetClass, path: str
) -> None:
    async with adapter_on_sandbox("tiingo") as (provider, state):
        out = await provider.quotes(symbols, asset_class)
        calls = [c.path for c in state.calls]
    assert calls == [path]
    for symbol in symbols:
        q = out[symbol]
        if symbol == "ZZZZ":
            assert isinstance(q, SymbolNotFoundError)
        else:
            assert not isinstance(q, ProviderError)
            assert q.price == price_at(symbol, q.timestamp.timestamp())


@pytest.mark.parametrize(
    ("symbol", "asset_class", "interval", "days"),
    [
        ("AAPL", AssetClass.STOCK, Interval.MINUTE, 1),
        ("AAPL", AssetClass.STOCK, Interval.HOUR, 5),
        ("BRK.B", AssetClass.STOCK, Interval.DAY, 40),
        ("AAPL", AssetClass.STOCK, Interval.WEEK, 200),
        ("BTC", AssetClass.CRYPTO, Interval.MINUTE, 1),
        ("BTC", AssetClass.CRYPTO, Interval.HOUR, 3),
    ],
)
async def test_history_matches_synthetic_bars(
    symbol: str, asset_class: AssetClass, interval: Interval, days: int
) -> None:
    start = datetime(2024, 4, 1, 6, tzinfo=UTC)  # mid-day start: Tiingo's whole days are trimmed
    end = start + timedelta(days=days)
    async with adapter_on_sandbox("tiingo") as (provider, _):
        candles = await provider.history(symbol, asset_class, interval, start, end)
    stock = asset_class is AssetClass.STOCK
    expected = bars(
        symbol, int(start.timestamp()), int(end.timestamp()), interval.seconds, stock=stock
    )
    assert len(candles) == len(expected) > 0
    assert as_tuples(candles) == synthetic(expected, whole_volume=stock)


async def test_crypto_weekly_history_is_unsupported() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, state):
        start = datetime(2024, 1, 1, tzinfo=UTC)
        with pytest.raises(UnsupportedError):
            await provider.history(
                "BTC", AssetClass.CRYPTO, Interval.WEEK, start, start + timedelta(days=70)
            )
        assert not state.calls


async def test_recent_daily_history_stops_at_the_last_closed_day() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, state):
        now = datetime.fromtimestamp(state.now(), tz=UTC)
        candles = await provider.history(
            "AAPL", AssetClass.STOCK, Interval.DAY, now - timedelta(days=30), now + timedelta(2)
        )
        today = math.floor(state.now() / 86400) * 86400
    assert candles and all(c.ts.timestamp() < today for c in candles)
    assert all(is_trading_day(c.ts.timestamp()) for c in candles)


async def test_coin_news_share_class_profile_and_search() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, _):
        coin_news = await provider.news(query=None, symbol="BTC", limit=1)
        profile = await provider.fundamentals("BRK.B")
        found = await provider.search("berkshire")
    assert coin_news[0].tickers == ("BTCUSD",)
    company = STOCKS["BRK.B"]
    assert (profile.name, profile.exchange) == (company.name, company.exchange)
    assert [(m.symbol, m.provider_symbol) for m in found] == [("BRK.B", "BRK-B")]


async def test_coin_misses_are_cached() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, state):
        for _ in range(2):
            with pytest.raises(SymbolNotFoundError):
                await provider.quote("NOPE", AssetClass.CRYPTO)
        lookups = [c for c in state.calls if c.path == "/tiingo/tiingo/crypto"]
    assert len(lookups) == 1 and lookups[0].query["tickers"] == "nopeusd"


async def test_emulator_requires_the_token_like_tiingo() -> None:
    app = create_sandbox_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.local") as client:
        bare = await client.get("/tiingo/api/test")
        keyed = await client.get(
            "/tiingo/api/test", headers={"Authorization": f"Token {SANDBOX_KEY}"}
        )
        by_query = await client.get("/tiingo/api/test", params={"token": SANDBOX_KEY})
    assert bare.status_code == 401 and "credentials" in bare.json()["detail"]
    assert keyed.status_code == by_query.status_code == 200
    logged = [v for c in app.state.sandbox.calls for v in c.query.values()]
    assert SANDBOX_KEY not in logged
