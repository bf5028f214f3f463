"""The real TiingoProvider against the in-process Tiingo emulator: every capability returns
what _synth computes, and the emulator's quota, auth and fault answers become typed errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.sandbox import create_sandbox_app
from marketsvc.sandbox._framework import Fault
from marketsvc.sandbox._synth import STOCKS, Bar, articles, bars, is_trading_day, price_at
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


async def test_crypto_quote_is_the_live_last_price() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, _):
        q = await provider.quote("ETH", AssetClass.CRYPTO)
    assert q.price == price_at("ETH", q.timestamp.timestamp())
    assert q.asset_class is AssetClass.CRYPTO and q.currency == "USD"


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
        ("ETH", AssetClass.CRYPTO, Interval.DAY, 40),
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


async def test_news_fundamentals_search_and_health() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, _):
        news = await provider.news(query=None, symbol="MSFT", limit=4)
        coin_news = await provider.news(query=None, symbol="BTC", limit=1)
        profile = await provider.fundamentals("BRK.B")
        found = await provider.search("berkshire")
        await provider.health()
    expected = articles("MSFT", news[0].published_at.timestamp(), 4)
    assert [(a.title, a.url, a.summary) for a in news] == [
        (e.title, e.url, e.summary) for e in expected
    ]
    assert [a.published_at.timestamp() for a in news] == [e.published for e in expected]
    assert coin_news[0].tickers == ("BTCUSD",)
    company = STOCKS["BRK.B"]
    assert (profile.name, profile.exchange) == (company.name, company.exchange)
    assert [(m.symbol, m.provider_symbol) for m in found] == [("BRK.B", "BRK-B")]


async def test_unknown_symbols_are_not_found_and_coin_misses_are_cached() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, state):
        with pytest.raises(SymbolNotFoundError):
            await provider.quote("ZZZZ", AssetClass.STOCK)
        with pytest.raises(SymbolNotFoundError):
            await provider.fundamentals("ZZZZ")
        start = datetime(2024, 4, 1, tzinfo=UTC)
        with pytest.raises(SymbolNotFoundError):
            await provider.history(
                "ZZZZ", AssetClass.STOCK, Interval.DAY, start, start + timedelta(days=5)
            )
        for _ in range(2):
            with pytest.raises(SymbolNotFoundError):
                await provider.quote("NOPE", AssetClass.CRYPTO)
        lookups = [c for c in state.calls if c.path == "/tiingo/tiingo/crypto"]
    assert len(lookups) == 1 and lookups[0].query["tickers"] == "nopeusd"


async def test_the_plain_text_quota_answer_is_rate_limited_with_retry_after() -> None:
    async with adapter_on_sandbox("tiingo", limits={"tiingo": "2/minute"}) as (provider, state):
        await provider.quote("AAPL", AssetClass.STOCK)
        await provider.quote("BTC", AssetClass.CRYPTO)
        with pytest.raises(RateLimitedError) as info:
            await provider.quote("MSFT", AssetClass.STOCK)
        assert state.providers["tiingo"].over_limit == 1
        assert state.calls[-1].status == 200  # Tiingo's quota text comes with HTTP 200
    retry_after = info.value.retry_after
    assert retry_after is not None and 0 < retry_after <= 3600


async def test_missing_key_is_auth_error_without_a_call() -> None:
    async with adapter_on_sandbox("tiingo", key=None) as (provider, state):
        with pytest.raises(ProviderAuthError):
            await provider.quote("AAPL", AssetClass.STOCK)
        assert not state.calls


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


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("error", ProviderUnavailableError),
        ("malformed", BadDataError),
        ("throttle", RateLimitedError),
    ],
)
async def test_injected_faults_become_typed_errors(kind: str, error: type[ProviderError]) -> None:
    async with adapter_on_sandbox("tiingo") as (provider, state):
        state.providers["tiingo"].faults.append(Fault(kind=kind, count=1))
        with pytest.raises(error) as info:
            await provider.quote("AAPL", AssetClass.STOCK)
        assert SANDBOX_KEY not in str(info.value)
        recovered = await provider.quote("AAPL", AssetClass.STOCK)  # the fault was one-shot
    assert recovered.price > 0


async def test_diverge_fault_scales_prices() -> None:
    async with adapter_on_sandbox("tiingo") as (provider, state):
        state.providers["tiingo"].faults.append(Fault(kind="diverge", factor=0.9))
        q = await provider.quote("BTC", AssetClass.CRYPTO)
    assert q.price == pytest.approx(price_at("BTC", q.timestamp.timestamp()) * 0.9)
