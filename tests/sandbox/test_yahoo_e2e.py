"""The real YahooProvider against the in-process emulator: values equal _synth's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.errors import (
    SymbolNotFoundError,
)
from marketsvc.providers.yahoo import MAX_BARS
from marketsvc.sandbox import _synth as synth
from marketsvc.sandbox.yahoo import mondays
from tests._sandbox import adapter_on_sandbox

ROOMY = {"yahoo": "1000/minute"}


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def same_bar(candle: Candle, bar: synth.Bar) -> bool:
    return (
        candle.ts == utc(bar.start)
        and (candle.open, candle.high, candle.low, candle.close)
        == pytest.approx((bar.open, bar.high, bar.low, bar.close), rel=1e-12)
        and candle.volume == int(bar.volume)
    )


def paths(state: object, suffix: str) -> int:
    return sum(1 for c in state.calls if c.path.endswith(suffix))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("symbol", "asset_class", "vendor"),
    [
        ("AAPL", AssetClass.STOCK, "AAPL"),
        ("BRK.B", AssetClass.STOCK, "BRK-B"),
        ("BTC", AssetClass.CRYPTO, "BTC-USD"),
        ("UNI", AssetClass.CRYPTO, "UNI7083-USD"),
    ],
)
async def test_quote_equals_price_at_its_timestamp(
    symbol: str, asset_class: AssetClass, vendor: str
) -> None:
    async with adapter_on_sandbox("yahoo", key=None, limits=ROOMY) as (provider, state):
        q = await provider.quote(symbol, asset_class)
    t = q.timestamp.timestamp()
    assert q.price == synth.price_at(symbol, t)
    assert q.previous_close == synth.previous_close(symbol, t)
    assert q.change == pytest.approx(q.price - synth.previous_close(symbol, t))
    assert (q.symbol, q.currency, q.source, q.asset_class) == (symbol, "USD", "yahoo", asset_class)
    assert [c.path for c in state.calls] == [f"/yahoo/v8/finance/chart/{vendor}"]


async def test_unlisted_coin_is_looked_up_once() -> None:
    async with adapter_on_sandbox("yahoo", key=None, limits=ROOMY) as (provider, state):
        first = await provider.quote("PEPE", AssetClass.CRYPTO)
        await provider.quote("PEPE", AssetClass.CRYPTO)
    assert first.price == synth.price_at("PEPE", first.timestamp.timestamp())
    assert paths(state, "/v1/finance/search") == 1
    assert paths(state, "/v8/finance/chart/PEPE24478-USD") == 2


async def test_batch_quotes_use_one_crumb_and_report_unknowns() -> None:
    async with adapter_on_sandbox("yahoo", key=None, limits=ROOMY) as (provider, state):
        out = await provider.quotes(["BTC", "ETH", "NOPE"], AssetClass.CRYPTO)
        stocks = await provider.quotes(["AAPL", "BRK.B"], AssetClass.STOCK)
    for symbol, q in [*out.items(), *stocks.items()]:
        if symbol == "NOPE":
            assert isinstance(q, SymbolNotFoundError)
            continue
        assert not isinstance(q, Exception)
        assert q.price == synth.price_at(symbol, q.timestamp.timestamp()) and q.symbol == symbol
    assert paths(state, "/v1/test/getcrumb") == 1 and paths(state, "/v7/finance/quote") == 2


async def test_expired_crumb_is_refreshed_once() -> None:
    async with adapter_on_sandbox("yahoo", key=None, limits=ROOMY) as (provider, state):
        await provider.quotes(["AAPL"], AssetClass.STOCK)
        state.offset += 86400  # the emulator's crumb rotates daily
        out = await provider.quotes(["AAPL"], AssetClass.STOCK)
    assert not isinstance(out["AAPL"], Exception)
    assert paths(state, "/v1/test/getcrumb") == 2
    assert [c.status for c in state.calls if c.path.endswith("/quote")] == [200, 401, 200]


@pytest.mark.parametrize(
    ("symbol", "asset_class", "interval", "seconds", "days"),
    [
        ("MSFT", AssetClass.STOCK, Interval.MINUTE, 60, 5),
        ("MSFT", AssetClass.STOCK, Interval.HOUR, 3600, 20),
        ("ETH", AssetClass.CRYPTO, Interval.MINUTE, 60, 1),
        ("ETH", AssetClass.CRYPTO, Interval.HOUR, 3600, 5),
    ],
)
async def test_history_equals_synthetic_bars(
    symbol: str, asset_class: AssetClass, interval: Interval, seconds: int, days: int
) -> None:
    async with adapter_on_sandbox("yahoo", key=None, limits=ROOMY) as (provider, state):
        now = state.now()
        # Up to now: the in-progress bar arrives with null prices and must be skipped.
        candles = await provider.history(
            symbol, asset_class, interval, utc(now - days * 86400), utc(now)
        )
        after = state.now()
    stock = asset_class is AssetClass.STOCK
    first = int(now - days * 86400)
    # One call spans at most MAX_BARS intervals; the caller pages for the rest.
    stop = min(int(now) + 1, first + MAX_BARS * seconds)
    expected = synth.bars(symbol, first, stop, seconds, stock=stock)
    done = [b for b in expected if b.start + seconds <= now]
    # A bar that completed between the two clock reads may or may not be in the answer.
    assert len(done) <= len(candles) <= len([b for b in expected if b.start + seconds <= after])
    assert len(candles) > 0
    assert all(same_bar(c, b) for c, b in zip(candles, expected, strict=False))


@pytest.mark.parametrize(
    ("symbol", "asset_class"), [("JPM", AssetClass.STOCK), ("SOL", AssetClass.CRYPTO)]
)
async def test_weekly_history_starts_on_monday(symbol: str, asset_class: AssetClass) -> None:
    async with adapter_on_sandbox("yahoo", key=None, limits=ROOMY) as (provider, state):
        now = state.now()
        candles = await provider.history(
            symbol, asset_class, Interval.WEEK, utc(now - 60 * 86400), utc(now)
        )
    weeks = [w for w in mondays(int(now - 60 * 86400), int(now)) if w + 7 * 86400 <= now]
    assert len(candles) == len(weeks) > 0
    assert all(
        same_bar(c, synth.bar(symbol, w, 7 * 86400)) for c, w in zip(candles, weeks, strict=True)
    )


async def test_fundamentals_search_and_news() -> None:
    async with adapter_on_sandbox("yahoo", key=None, limits=ROOMY) as (provider, state):
        before = state.now()
        f = await provider.fundamentals("BRK.B")
        matches = await provider.search("bitcoin")
        by_symbol = await provider.news(query=None, symbol="BTC", limit=3)
        by_query = await provider.news(query="bitcoin", symbol=None, limit=2)
        after = state.now()
    company = synth.STOCKS["BRK.B"]
    assert (f.symbol, f.sector, f.industry, f.employees) == (
        "BRK.B",
        company.sector,
        company.industry,
        company.employees,
    )
    assert f.shares_outstanding == company.shares
    assert f.market_cap == pytest.approx(company.shares * synth.price_at("BRK.B", before), rel=0.01)
    assert ("BTC", AssetClass.CRYPTO, "BTC-USD") in [
        (m.symbol, m.asset_class, m.provider_symbol) for m in matches
    ]
    assert ("BCH", AssetClass.CRYPTO, "BCH-USD") in [
        (m.symbol, m.asset_class, m.provider_symbol) for m in matches
    ]
    for articles, topic, n in ((by_symbol, "BTC", 3), (by_query, "bitcoin", 2)):
        options = {tuple(a.url for a in synth.articles(topic, t, n)) for t in (before, after)}
        assert tuple(a.url for a in articles) in options
    assert all(a.tickers == ("BTC",) for a in by_symbol)
