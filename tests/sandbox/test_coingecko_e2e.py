"""The real CoinGeckoProvider against the CoinGecko emulator: every capability equals what
_synth computes, and the emulator's host split, throttle, auth and fault answers become the
right typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from marketsvc.config import ProviderSettings
from marketsvc.domain import AssetClass, Interval
from marketsvc.errors import (
    ProviderAuthError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers._coingecko_parse import error_code, raise_for_coingecko
from marketsvc.providers._http import ProviderHttp, Response
from marketsvc.providers.base import Provider
from marketsvc.providers.registry import build_http_client, build_provider
from marketsvc.sandbox import SandboxState, _synth, create_sandbox_app
from tests._sandbox import SANDBOX_KEY, adapter_on_sandbox

# The Pro host is played by the request's Host header; ASGITransport never leaves the process.
PRO_BASE = "http://pro-api.coingecko.com/coingecko/api/v3"
CHART_PATH = "coins/bitcoin/market_chart/range"


@asynccontextmanager
async def pro_adapter(
    key: str | None = SANDBOX_KEY,
) -> AsyncIterator[tuple[Provider, SandboxState]]:
    app = create_sandbox_app()
    settings = ProviderSettings(
        name="coingecko",
        api_key=SecretStr(key) if key else None,
        base_url=PRO_BASE,
        enabled=True,
        rate_limits=(),
        ws_url=None,
    )
    transport = httpx.ASGITransport(app=app)
    async with build_http_client(settings, timeout=5.0, transport=transport) as client:
        yield build_provider(settings, ProviderHttp("coingecko", client)), app.state.sandbox


def calls(state: SandboxState, suffix: str) -> list[dict[str, str]]:
    return [c.query for c in state.calls if c.provider == "coingecko" and c.path.endswith(suffix)]


def away_from_the_hour(state: SandboxState) -> float:
    """Move the emulator's clock at least two minutes past an hour boundary so a bar that
    just closed already has its closing point; returns the emulator's now."""
    if state.now() % 3600 < 120:
        state.offset += 120
    return state.now()


def hour_bar(symbol: str, start: int, points_every: int) -> tuple[float, ...]:
    """The bar the adapter builds from CoinGecko points every ``points_every`` seconds:
    open at the first, close at the next bar's first, high/low over all of them."""
    prices = [_synth.price_at(symbol, start + k) for k in range(0, 3601, points_every)]
    return (start, prices[0], max(prices), min(prices), prices[-1])


# Quotes ---------------------------------------------------------------------------------------
async def test_quote_equals_the_synthetic_price() -> None:
    async with adapter_on_sandbox("coingecko") as (provider, state):
        q = await provider.quote("BTC", AssetClass.CRYPTO)
        now = state.now()
    t = q.timestamp.timestamp()  # the emulator's last_updated_at
    assert abs(t - now) < 5
    assert q.price == _synth.price_at("BTC", t)
    before = _synth.price_at("BTC", t - 86400)
    assert q.change_percent == pytest.approx((q.price - before) / before * 100)
    assert q.change == pytest.approx(q.price - before)
    assert q.volume == _synth.bar("BTC", int(t // 60 * 60) - 86400, 86400).volume
    assert (q.source, q.currency, q.asset_class) == ("coingecko", "USD", AssetClass.CRYPTO)


async def test_batch_maps_through_the_list_and_search_once() -> None:
    async with adapter_on_sandbox("coingecko") as (provider, state):
        out = await provider.quotes(["ETH", "PEPE", "WIF", "NOPECOIN"], AssetClass.CRYPTO)
        again = await provider.quotes(["PEPE", "WIF"], AssetClass.CRYPTO)
        assert len(calls(state, "/coins/list")) == 1
        assert calls(state, "/search") == [{"query": "WIF"}]
        assert [c["ids"] for c in calls(state, "/simple/price")] == [
            "ethereum,pepe,dogwifcoin",
            "pepe,dogwifcoin",
        ]
        # No key travels in a query string: the Demo key rides in its header.
        assert all("x_cg_demo_api_key" not in c for c in calls(state, ""))
    assert isinstance(out["NOPECOIN"], SymbolNotFoundError)
    for symbol in ("ETH", "PEPE", "WIF"):
        q = out[symbol]
        assert not isinstance(q, Exception)
        assert q.price == _synth.price_at(symbol, q.timestamp.timestamp())
    assert not isinstance(again["WIF"], Exception)


# History --------------------------------------------------------------------------------------
async def test_past_hour_bars_come_from_hourly_points() -> None:
    async with adapter_on_sandbox("coingecko") as (provider, state):
        now = state.now()
        first = int(now // 3600 * 3600) - 10 * 86400
        start = datetime.fromtimestamp(first, UTC)
        got = await provider.history(
            "ETH", AssetClass.CRYPTO, Interval.HOUR, start, start + timedelta(hours=12)
        )
    expected = [hour_bar("ETH", first + k * 3600, 3600) for k in range(12)]
    assert [(c.ts.timestamp(), c.open, c.high, c.low, c.close) for c in got] == expected
    assert all(c.volume is None for c in got)


async def test_recent_hour_bars_come_from_five_minute_points() -> None:
    async with adapter_on_sandbox("coingecko") as (provider, state):
        now = away_from_the_hour(state)
        current = int(now // 3600 * 3600)
        start = datetime.fromtimestamp(current - 3 * 3600, UTC)
        got = await provider.history(
            "SOL", AssetClass.CRYPTO, Interval.HOUR, start, start + timedelta(hours=4)
        )
    assert [c.ts.timestamp() for c in got] == [current - k * 3600 for k in (3, 2, 1, 0)]
    expected = [hour_bar("SOL", current - k * 3600, 300) for k in (3, 2, 1)]
    assert [(c.ts.timestamp(), c.open, c.high, c.low, c.close) for c in got[:3]] == expected
    assert got[3].open == _synth.price_at("SOL", current)  # the hour still forming


async def test_day_bars_from_hourly_points_with_the_days_volume() -> None:
    async with adapter_on_sandbox("coingecko") as (provider, state):
        first = int(state.now() // 86400 * 86400) - 20 * 86400
        start = datetime.fromtimestamp(first, UTC)
        got = await provider.history(
            "BTC", AssetClass.CRYPTO, Interval.DAY, start, start + timedelta(days=5)
        )
    assert len(got) == 5
    for k, candle in enumerate(got):
        day = first + k * 86400
        hourly = [_synth.price_at("BTC", day + h * 3600) for h in range(25)]
        assert (candle.ts.timestamp(), candle.open, candle.close) == (day, hourly[0], hourly[-1])
        assert (candle.high, candle.low) == (max(hourly), min(hourly))
        assert candle.volume == _synth.bar("BTC", day, 86400).volume


async def test_history_older_than_a_year_needs_the_pro_host() -> None:
    old = datetime.now(UTC) - timedelta(days=500)
    day = old.replace(hour=0, minute=0, second=0, microsecond=0)
    end = day + timedelta(days=3)
    async with adapter_on_sandbox("coingecko") as (provider, state):
        bars = await provider.history("BTC", AssetClass.CRYPTO, Interval.DAY, day, end)
        assert bars == [] and calls(state, "/market_chart/range") == []
    async with pro_adapter() as (provider, _):
        bars = await provider.history("BTC", AssetClass.CRYPTO, Interval.DAY, day, end)
    assert [c.open for c in bars] == [
        _synth.price_at("BTC", day.timestamp() + k * 86400) for k in range(3)
    ]


# Profile, search, news --------------------------------------------------------------------------
async def test_fundamentals_are_the_synthetic_coin_profile() -> None:
    async with adapter_on_sandbox("coingecko") as (provider, state):
        before = state.now()
        f = await provider.fundamentals("ETH")
        after = state.now()
    assert f.website == "https://sandbox.marketsvc.invalid/coins/ethereum"
    assert f.extra["price"] in {_synth.price_at("ETH", before), _synth.price_at("ETH", after)}
    assert f.extra["market_cap_rank"] == 2


async def test_search_ranks_coins_by_market_cap() -> None:
    async with adapter_on_sandbox("coingecko") as (provider, _):
        matches = await provider.search("wif")
    assert [(m.symbol, m.provider_symbol) for m in matches] == [
        ("WIF", "dogwifcoin"),
        ("WIF", "wif-imitation"),
    ]


async def test_news_on_the_pro_host_equals_the_synthetic_articles() -> None:
    async with pro_adapter() as (provider, state):
        arts = await provider.news(query=None, symbol="BTC", limit=4)
        now = state.now()
        assert calls(state, "/news") == [
            {"page": "1", "per_page": "4", "coin_id": "bitcoin", "language": "en", "type": "all"}
        ]
    newest = arts[0].published_at.timestamp()
    assert now - 2 * 3600 < newest <= now
    expected = _synth.articles("BTC", newest, 4)
    assert [(a.title, a.url, a.published_at.timestamp(), a.tickers) for a in arts] == [
        (e.title, e.url, e.published, ("BTC",)) for e in expected
    ]


# Throttling and keys -------------------------------------------------------------------------
@pytest.mark.parametrize("key", [SANDBOX_KEY, None])
async def test_throttle_answer_is_rate_limited_with_retry_after(key: str | None) -> None:
    limits = {"coingecko": "2/minute"}
    async with adapter_on_sandbox("coingecko", key=key, limits=limits) as (provider, state):
        await provider.quote("BTC", AssetClass.CRYPTO)
        await provider.quote("ETH", AssetClass.CRYPTO)
        with pytest.raises(RateLimitedError) as info:
            await provider.quote("SOL", AssetClass.CRYPTO)
        assert state.provider("coingecko").over_limit == 1
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
    # A keyed caller gets CoinGecko's JSON; a keyless one the Cloudflare page.
    assert ("CDN" in str(info.value)) is (key is None)


async def test_the_pro_host_needs_a_key() -> None:
    async with pro_adapter(key=None) as (provider, _):
        with pytest.raises(ProviderAuthError):
            await provider.health()


@pytest.mark.parametrize(
    ("host", "headers", "path", "code"),
    [
        ("pro-api.coingecko.com", {"x-cg-demo-api-key": "k"}, "ping", 10011),
        ("sandbox.local", {"x-cg-pro-api-key": "k"}, "ping", 10010),
        ("sandbox.local", {}, f"{CHART_PATH}?vs_currency=usd&from=0&to=86400", 10012),
    ],
)
async def test_emulator_answers_the_vendors_key_and_plan_errors(
    host: str, headers: dict[str, str], path: str, code: int
) -> None:
    transport = httpx.ASGITransport(app=create_sandbox_app())
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
        resp = await client.get(f"/coingecko/api/v3/{path}", headers=headers)
    response = Response("coingecko", resp.status_code, resp.headers, resp.content, 0.0)
    assert error_code(response.json()) == code
    with pytest.raises(ProviderAuthError, match=f"code {code}"):
        raise_for_coingecko(response)
