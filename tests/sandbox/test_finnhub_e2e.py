"""The real FinnhubProvider against the Finnhub emulator: every capability equals what _synth
computes, and the emulator's throttle, auth and fault answers become the right typed errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from marketsvc.domain import AssetClass, Interval
from marketsvc.errors import (
    ProviderAuthError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.sandbox import SandboxState, _synth
from tests._sandbox import adapter_on_sandbox

# A fixed past window: bars there never depend on when the test runs.
WINDOW_START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday


def calls(state: SandboxState, path_suffix: str) -> list[dict[str, str]]:
    """Logged query parameters of the emulator's Finnhub calls to paths ending in the suffix."""
    return [
        c.query for c in state.calls if c.provider == "finnhub" and c.path.endswith(path_suffix)
    ]


async def test_coin_outside_the_table_is_found_through_the_cached_symbol_list() -> None:
    async with adapter_on_sandbox("finnhub") as (provider, state):
        first = await provider.quote("PEPE", AssetClass.CRYPTO)
        await provider.quote("PEPE", AssetClass.CRYPTO)
        await provider.quote("WIF", AssetClass.CRYPTO)
        assert calls(state, "/crypto/symbol") == [{"exchange": "binance"}]
        assert [c["symbol"] for c in calls(state, "/quote")] == [
            "BINANCE:PEPEUSDT",
            "BINANCE:PEPEUSDT",
            "BINANCE:WIFUSDT",
        ]
        # The key travels in the header: the logged query never carries a token.
        assert all("token" not in c for c in calls(state, ""))
    assert first.price == _synth.price_at("PEPE", first.timestamp.timestamp())


@pytest.mark.parametrize(
    ("symbol", "asset_class", "interval", "span"),
    # Day bars are in the provider contract suite.
    [
        ("BTC", AssetClass.CRYPTO, Interval.HOUR, timedelta(hours=30)),
        ("BTC", AssetClass.CRYPTO, Interval.MINUTE, timedelta(minutes=90)),
        ("AAPL", AssetClass.STOCK, Interval.HOUR, timedelta(days=2)),
    ],
)
async def test_history_equals_the_synthetic_bars(
    symbol: str, asset_class: AssetClass, interval: Interval, span: timedelta
) -> None:
    start, end = WINDOW_START, WINDOW_START + span
    async with adapter_on_sandbox("finnhub") as (provider, _):
        got = await provider.history(symbol, asset_class, interval, start, end)
    expected = _synth.bars(
        symbol,
        int(start.timestamp()),
        int(end.timestamp()),
        interval.seconds,
        stock=asset_class is AssetClass.STOCK,
    )
    assert len(got) == len(expected) > 0
    assert [(c.ts.timestamp(), c.open, c.high, c.low, c.close, c.volume) for c in got] == [
        (b.start, b.open, b.high, b.low, b.close, b.volume) for b in expected
    ]


async def test_history_on_a_free_key_is_the_premium_auth_error() -> None:
    async with adapter_on_sandbox("finnhub", key="free-plan-key") as (provider, _):
        with pytest.raises(ProviderAuthError):
            await provider.history(
                "AAPL",
                AssetClass.STOCK,
                Interval.DAY,
                WINDOW_START,
                WINDOW_START + timedelta(days=5),
            )


async def test_crypto_news_is_filtered_to_the_coin() -> None:
    async with adapter_on_sandbox("finnhub") as (provider, _):
        arts = await provider.news(query=None, symbol="ETH", limit=4)
    expected = _synth.articles("ETH", arts[0].published_at.timestamp(), 4)
    assert [a.url for a in arts] == [e.url for e in expected]


async def test_free_text_news_is_unsupported() -> None:
    async with adapter_on_sandbox("finnhub") as (provider, state):
        with pytest.raises(UnsupportedError):
            await provider.news(query="central banks", symbol=None, limit=3)
        assert calls(state, "/news") == []


async def test_fundamentals_equal_the_synthetic_company() -> None:
    company = _synth.STOCKS["MSFT"]
    async with adapter_on_sandbox("finnhub") as (provider, state):
        before = state.now()
        f = await provider.fundamentals("MSFT")
        after = state.now()
    assert f.name == f"{company.name} {_synth.SYNTHETIC}"
    assert (f.exchange, f.sector, f.currency) == (company.exchange, company.sector, "USD")
    assert f.shares_outstanding == pytest.approx(company.shares)
    caps = {_synth.price_at("MSFT", t) * company.shares for t in (before, after)}
    assert any(f.market_cap == pytest.approx(cap) for cap in caps)
    day = math.floor(after / 86400) * 86400
    closes = [_synth.price_at("MSFT", day - i * 86400) for i in range(365)]
    assert (f.week52_high, f.week52_low) == (max(closes), min(closes))
    assert f.pe_ratio is not None and f.eps == pytest.approx(closes[0] / f.pe_ratio, rel=1e-3)


async def test_fundamentals_of_unknown_symbol_stop_at_the_profile() -> None:
    async with adapter_on_sandbox("finnhub") as (provider, state):
        with pytest.raises(SymbolNotFoundError):
            await provider.fundamentals("ZZZZ")
        assert calls(state, "/stock/metric") == []


async def test_search_finds_the_synthetic_company() -> None:
    async with adapter_on_sandbox("finnhub") as (provider, _):
        matches = await provider.search("micro")
    assert [m.symbol for m in matches] == ["MSFT"]
    assert matches[0].source == "finnhub" and "MICROSOFT" in matches[0].name


async def test_health_is_a_quote_of_aapl() -> None:
    async with adapter_on_sandbox("finnhub") as (provider, state):
        await provider.health()
        assert calls(state, "/quote") == [{"symbol": "AAPL"}]
