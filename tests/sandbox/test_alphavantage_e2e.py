"""The real AlphaVantageProvider against the in-process emulator: values equal _synth's."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.errors import (
    ProviderAuthError,
    RateLimitedError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.providers._alphavantage_parse import classify_message, seconds_to_utc_midnight
from marketsvc.sandbox import _synth as synth
from marketsvc.sandbox import create_sandbox_app
from marketsvc.sandbox.alphavantage import monday_weeks
from tests._sandbox import SANDBOX_KEY, SANDBOX_ROOT, adapter_on_sandbox

ROOMY = {"alphavantage": "1000/minute"}  # the real 25/day would end these tests early


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def same_bar(candle: Candle, bar: synth.Bar, digits: int = 4) -> bool:
    """Stocks travel with 4 decimals, like the vendor's strings; crypto with 8."""
    tol = 10.0**-digits
    return (
        candle.ts == utc(bar.start)
        and all(
            abs(a - b) <= tol
            for a, b in zip(
                (candle.open, candle.high, candle.low, candle.close),
                (bar.open, bar.high, bar.low, bar.close),
                strict=True,
            )
        )
        and abs((candle.volume or 0) - bar.volume) <= 1
    )


async def test_share_class_is_looked_up_once_then_cached() -> None:
    async with adapter_on_sandbox("alphavantage", limits=ROOMY) as (provider, state):
        before = state.now()
        for _ in range(2):
            q = await provider.quote("BRK.B", AssetClass.STOCK)
        after = state.now()
        calls = [(c.query["function"], c.query.get("symbol")) for c in state.calls]
    assert q.symbol == "BRK.B"
    assert q.price in {synth.price_at("BRK.B", before), synth.price_at("BRK.B", after)}
    assert calls == [("SYMBOL_SEARCH", None), ("GLOBAL_QUOTE", "BRK-B"), ("GLOBAL_QUOTE", "BRK-B")]


@pytest.mark.parametrize(("interval", "seconds"), [(Interval.MINUTE, 60), (Interval.HOUR, 3600)])
async def test_intraday_stock_history_equals_synthetic_bars(
    interval: Interval, seconds: int
) -> None:
    async with adapter_on_sandbox("alphavantage", limits=ROOMY) as (provider, state):
        now = state.now()
        lookback = int(now) - 30 * 86400
        done = [
            b
            for b in synth.bars("IBM", lookback, int(now), seconds, stock=True)
            if b.start + seconds <= now
        ]
        # A middle slice of the 100-bar compact window survives a bar completing mid-test.
        wanted = done[-80:-20]
        start, end = utc(wanted[0].start), utc(wanted[-1].start + 1)
        candles = await provider.history("IBM", AssetClass.STOCK, interval, start, end)
    assert len(candles) == len(wanted) == 60
    assert all(same_bar(c, b) for c, b in zip(candles, wanted, strict=True))


async def test_weekly_stock_history_starts_on_monday() -> None:
    async with adapter_on_sandbox("alphavantage", limits=ROOMY) as (provider, state):
        now = state.now()
        candles = await provider.history(
            "NVDA", AssetClass.STOCK, Interval.WEEK, utc(now - 70 * 86400), utc(now)
        )
    weeks = [w for w in monday_weeks(now, 20) if w >= now - 70 * 86400]
    assert [c.ts.weekday() for c in candles] == [0] * len(weeks)
    assert all(
        same_bar(c, synth.bar("NVDA", w, 7 * 86400)) for c, w in zip(candles, weeks, strict=True)
    )


async def test_crypto_weekly_history_equals_synthetic_bars_and_intraday_is_premium() -> None:
    # Daily crypto bars are in the provider contract suite.
    seconds = 7 * 86400
    async with adapter_on_sandbox("alphavantage", limits=ROOMY) as (provider, state):
        now = state.now()
        start = utc(now - 60 * 86400)
        candles = await provider.history("SOL", AssetClass.CRYPTO, Interval.WEEK, start, utc(now))
        with pytest.raises(UnsupportedError):
            await provider.history("SOL", AssetClass.CRYPTO, Interval.HOUR, start, utc(now))
    starts = [w for w in monday_weeks(now, 20) if w >= now - 60 * 86400 and w + seconds <= now]
    assert len(candles) == len(starts) > 0
    assert all(
        same_bar(c, synth.bar("SOL", s, seconds), 8) for c, s in zip(candles, starts, strict=True)
    )


async def test_crypto_news_search_and_an_unknown_ticker() -> None:
    async with adapter_on_sandbox("alphavantage", limits=ROOMY) as (provider, state):
        before = state.now()
        articles = await provider.news(query=None, symbol="BTC", limit=4)
        f = await provider.fundamentals("AAPL")
        matches = await provider.search("micro")
        coins = await provider.search("ethereum")
        with pytest.raises(SymbolNotFoundError):
            await provider.news(query=None, symbol="ZZZZ", limit=3)
    expected = {tuple(a.url for a in synth.articles("BTC", t, 4)) for t in (before, state.now())}
    assert tuple(a.url for a in articles) in expected
    assert all(a.tickers == ("BTC",) and a.provider == "alphavantage" for a in articles)
    assert f.dividend_yield is None  # the vendor's "None" string, not a zero
    assert [m.symbol for m in matches] == ["MSFT"]
    assert ("ETH", AssetClass.CRYPTO) in [(m.symbol, m.asset_class) for m in coins]


async def test_daily_limit_answers_information_and_never_leaks_the_key() -> None:
    async with adapter_on_sandbox("alphavantage", limits={"alphavantage": "2/day"}) as (
        provider,
        state,
    ):
        for _ in range(2):
            await provider.quote("BTC", AssetClass.CRYPTO)
        with pytest.raises(RateLimitedError) as info:
            await provider.quote("BTC", AssetClass.CRYPTO)
        now = state.now()
    assert info.value.retry_after == pytest.approx(seconds_to_utc_midnight(now), abs=2)
    assert SANDBOX_KEY not in str(info.value) and SANDBOX_KEY not in repr(info.value)


async def test_demo_key_is_an_auth_error_outside_ibm() -> None:
    # A missing key is in the provider contract suite; the demo key is Alpha Vantage's own.
    app = create_sandbox_app(limits=ROOMY)
    async with adapter_on_sandbox("alphavantage", app, key="demo") as (provider, _):
        assert (await provider.quote("IBM", AssetClass.STOCK)).symbol == "IBM"
        with pytest.raises(ProviderAuthError):
            await provider.quote("AAPL", AssetClass.STOCK)
    # The emulator's own keyless answer is the vendor's, and the adapter's mapping knows it.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX_ROOT) as client:
        resp = await client.get(
            "/alphavantage/query", params={"function": "GLOBAL_QUOTE", "symbol": "IBM"}
        )
    body = resp.json()
    assert resp.status_code == 200 and set(body) == {"Error Message"}
    assert isinstance(
        classify_message("Error Message", body["Error Message"], 0.0, "IBM"), ProviderAuthError
    )
