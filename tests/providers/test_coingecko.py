"""CoinGeckoProvider against respx on CoinGecko's real shapes (shared/reference/providers.md §1):
the request (path, params, Demo/Pro header auth, no key in the URL), the parse, symbol mapping
and its caches, and every error quirk (JSON and Cloudflare 429s, the three error-body shapes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from marketsvc.config import ProviderSettings
from marketsvc.domain import AssetClass, Capability, Interval
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.coingecko import LIST_TTL, MAX_BARS, CoinGeckoProvider
from marketsvc.providers.registry import build_http_client
from tests.fakes import FakeClock

BASE = "https://api.coingecko.com/api/v3"
PRO = "https://pro-api.coingecko.com/api/v3"
KEY = "CG-SENTINEL-key-5521"
NOW = 1_779_100_000.0  # 2026-05-18T10:26:40Z
# The demo OAS examples (providers.md §1.3).
PRICE = {
    "bitcoin": {
        "usd": 76975,
        "usd_market_cap": 1542226908349.8406,
        "usd_24h_vol": 29096603418.89408,
        "usd_24h_change": -1.4093297098441402,
        "last_updated_at": 1779092258,
    }
}
ETH_ROW = {"usd": 2100.5, "usd_24h_change": 2.0, "last_updated_at": 1779092250}
COINS_LIST = [
    {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin"},
    {"id": "ondo-finance", "symbol": "ondo", "name": "Ondo"},
    {"id": "dogwifcoin", "symbol": "wif", "name": "dogwifhat"},
    {"id": "wif-copy", "symbol": "wif", "name": "WIF copy"},
]
SEARCH = {
    "coins": [
        {"id": "wif-copy", "name": "WIF copy", "api_symbol": "wif-copy", "symbol": "WIF",
         "market_cap_rank": None, "thumb": "t", "large": "l"},
        {"id": "dogwifcoin", "name": "dogwifhat", "api_symbol": "dogwifcoin", "symbol": "WIF",
         "market_cap_rank": 60, "thumb": "t", "large": "l"},
    ],
    "exchanges": [], "icos": [], "categories": [], "nfts": [],
}  # fmt: skip
RATE_429 = {
    "status": {
        "error_code": 429,
        "error_message": "You've exceeded the Rate Limit. Please visit "
        "https://www.coingecko.com/en/api/pricing to subscribe to our API plans.",
    }
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


async def _provider(
    clock: FakeClock, key: str | None = KEY, base: str = BASE, **kwargs: Any
) -> AsyncIterator[CoinGeckoProvider]:
    settings = ProviderSettings(
        name="coingecko",
        api_key=SecretStr(key) if key else None,
        base_url=base,
        enabled=True,
        rate_limits=(),
        ws_url=None,
    )
    async with build_http_client(settings, timeout=2.0) as client:
        http = ProviderHttp("coingecko", client, clock=clock)
        yield CoinGeckoProvider(settings, http, clock=clock, **kwargs)


@pytest.fixture
async def cg(clock: FakeClock) -> AsyncIterator[CoinGeckoProvider]:
    async for provider in _provider(clock):
        yield provider


@pytest.fixture
async def pro(clock: FakeClock) -> AsyncIterator[CoinGeckoProvider]:
    async for provider in _provider(clock, base=PRO):
        yield provider


def sent(route: respx.Route, header: str = "x-cg-demo-api-key") -> httpx.Request:
    """The last request on ``route``: the key rides in the header, never in the URL."""
    request: httpx.Request = route.calls.last.request
    assert request.headers[header] == KEY
    assert KEY not in str(request.url)
    return request


async def fails(kind: type[ProviderError], call: Awaitable[Any]) -> ProviderError:
    with pytest.raises(kind) as info:
        await call
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.args)
    assert "coingecko.com" not in str(info.value)
    return info.value


# Quotes ---------------------------------------------------------------------------------------
async def test_quote_request_and_parse(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    route = mock.get(f"{BASE}/simple/price").respond(json=PRICE)
    q = await cg.quote("btc", AssetClass.CRYPTO)
    assert dict(sent(route).url.params) == {
        "ids": "bitcoin",
        "vs_currencies": "usd",
        "include_market_cap": "true",
        "include_24hr_vol": "true",
        "include_24hr_change": "true",
        "include_last_updated_at": "true",
        "precision": "full",
    }
    assert "x-cg-pro-api-key" not in route.calls.last.request.headers
    assert (q.symbol, q.price, q.change_percent) == ("BTC", 76975.0, -1.4093297098441402)
    assert q.change == pytest.approx(76975 - 76975 / (1 - 0.014093297098441402))
    assert (q.volume, q.market_cap) == (29096603418.89408, 1542226908349.8406)
    assert q.timestamp == datetime.fromtimestamp(1779092258, tz=UTC)
    assert (q.source, q.currency, q.asset_class) == ("coingecko", "USD", AssetClass.CRYPTO)


async def test_keyless_sends_no_key_and_pair_symbols_map(
    clock: FakeClock, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{BASE}/simple/price").respond(json={"bitcoin": {"usd": 1.5}})
    async for keyless in _provider(clock, key=None):
        q = await keyless.quote("BTC-USD", AssetClass.CRYPTO)
    headers = route.calls.last.request.headers
    assert "x-cg-demo-api-key" not in headers and "x-cg-pro-api-key" not in headers
    assert route.calls.last.request.url.params["ids"] == "bitcoin"
    # Without last_updated_at the quote is stamped with the clock.
    assert (q.price, q.change, q.timestamp) == (1.5, None, datetime.fromtimestamp(NOW, tz=UTC))


async def test_pro_host_uses_the_pro_header_and_offers_news(
    pro: CoinGeckoProvider, cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{PRO}/simple/price").respond(json=PRICE)
    await pro.quote("BTC", AssetClass.CRYPTO)
    request = sent(route, "x-cg-pro-api-key")
    assert "x-cg-demo-api-key" not in request.headers
    assert pro.pro and not cg.pro
    assert Capability.NEWS in pro.info.capabilities
    assert Capability.NEWS not in cg.info.capabilities
    assert cg.info.capabilities == {
        Capability.QUOTE,
        Capability.BATCH_QUOTE,
        Capability.HISTORY,
        Capability.FUNDAMENTALS,
        Capability.SEARCH,
    }
    assert (cg.info.max_batch, cg.info.max_bars_per_call) == (250, 89)
    assert cg.info.history_intervals == {Interval.HOUR, Interval.DAY}


async def test_batch_is_one_call_and_missing_ids_are_not_found(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{BASE}/simple/price").respond(json={**PRICE, "ethereum": ETH_ROW})
    out = await cg.quotes(["BTC", "eth", "SOL"], AssetClass.CRYPTO)
    assert route.call_count == 1
    assert sent(route).url.params["ids"] == "bitcoin,ethereum,solana"
    assert out["BTC"].price == 76975.0  # type: ignore[union-attr]
    assert out["eth"].symbol == "ETH"  # type: ignore[union-attr]
    assert isinstance(out["SOL"], SymbolNotFoundError)  # left out of the answer


async def test_one_bad_entry_fails_only_its_symbol(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/simple/price").respond(json={**PRICE, "ethereum": {"usd": "n/a"}})
    out = await cg.quotes(["BTC", "ETH"], AssetClass.CRYPTO)
    assert out["BTC"].price == 76975.0  # type: ignore[union-attr]
    assert isinstance(out["ETH"], BadDataError)


async def test_max_batch_is_configurable_and_splits_calls(
    clock: FakeClock, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{BASE}/simple/price").respond(json={**PRICE, "ethereum": ETH_ROW})
    async for small in _provider(clock, max_batch=2):
        assert small.info.max_batch == 2
        out = await small.quotes(["BTC", "ETH", "SOL"], AssetClass.CRYPTO)
    assert [c.request.url.params["ids"] for c in route.calls] == ["bitcoin,ethereum", "solana"]
    assert isinstance(out["SOL"], SymbolNotFoundError)


async def test_stocks_are_not_covered(cg: CoinGeckoProvider) -> None:
    await fails(UnsupportedError, cg.quote("AAPL", AssetClass.STOCK))


# Symbol mapping -------------------------------------------------------------------------------
async def test_table_symbols_need_no_lookup(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    listing = mock.get(f"{BASE}/coins/list").respond(json=COINS_LIST)
    route = mock.get(f"{BASE}/simple/price").respond(json={})
    await cg.quotes(["AVAX", "BNB", "POL"], AssetClass.CRYPTO)
    assert route.calls.last.request.url.params["ids"] == (
        "avalanche-2,binancecoin,polygon-ecosystem-token"
    )
    assert not listing.called


async def test_coins_list_is_fetched_once_and_cached(
    cg: CoinGeckoProvider, mock: respx.MockRouter, clock: FakeClock
) -> None:
    listing = mock.get(f"{BASE}/coins/list").respond(json=COINS_LIST)
    route = mock.get(f"{BASE}/simple/price").respond(json={"ondo-finance": {"usd": 0.9}})
    assert (await cg.quote("ONDO", AssetClass.CRYPTO)).price == 0.9
    assert (await cg.quote("ONDO", AssetClass.CRYPTO)).price == 0.9
    await fails(SymbolNotFoundError, cg.quote("NOPE", AssetClass.CRYPTO))
    assert listing.call_count == 1
    assert sent(listing).url.params == httpx.QueryParams()
    assert route.call_count == 2  # the unknown symbol cost no price call
    clock.now += LIST_TTL
    await cg.quote("ONDO", AssetClass.CRYPTO)
    assert listing.call_count == 2  # refreshed after a day


async def test_ambiguous_ticker_is_settled_by_search_rank_once(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/coins/list").respond(json=COINS_LIST)
    search = mock.get(f"{BASE}/search").respond(json=SEARCH)
    route = mock.get(f"{BASE}/simple/price").respond(json={"dogwifcoin": {"usd": 2.5}})
    assert (await cg.quote("WIF", AssetClass.CRYPTO)).price == 2.5
    await cg.quote("WIF", AssetClass.CRYPTO)
    assert search.call_count == 1
    assert sent(search).url.params["query"] == "WIF"
    assert route.calls.last.request.url.params["ids"] == "dogwifcoin"


# History --------------------------------------------------------------------------------------
CHART = f"{BASE}/coins/bitcoin/market_chart/range"
DAY0 = 1_778_976_000  # 2026-05-17T00:00:00Z, within the past 365 days of NOW


def chart(points: list[tuple[int, float]], volume: float = 5.0) -> dict[str, Any]:
    return {
        "prices": [[t * 1000 + 123, p] for t, p in points],
        "market_caps": [[t * 1000 + 123, p * 10] for t, p in points],
        "total_volumes": [[t * 1000 + 123, volume + i] for i, (t, _) in enumerate(points)],
    }


async def test_hour_bars_from_hourly_points(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    prices = [100.0, 103.0, 99.0, 101.0]
    body = chart([(DAY0 + k * 3600 + 23, p) for k, p in enumerate(prices)])
    route = mock.get(CHART).respond(json=body)
    start = datetime.fromtimestamp(DAY0, tz=UTC)
    bars = await cg.history(
        "BTC", AssetClass.CRYPTO, Interval.HOUR, start, start + timedelta(hours=3)
    )
    assert dict(sent(route).url.params) == {
        "vs_currency": "usd",
        # An hour more on each side, for the points nearest the outer bars' edges.
        "from": str(DAY0 - 3600),
        "to": str(DAY0 + 3 * 3600 + 3600),
        "precision": "full",
    }
    # Each bar opens at its point and closes at the next bar's first point.
    assert [(c.ts.timestamp(), c.open, c.high, c.low, c.close, c.volume) for c in bars] == [
        (DAY0, 100.0, 103.0, 100.0, 103.0, None),
        (DAY0 + 3600, 103.0, 103.0, 99.0, 99.0, None),
        (DAY0 + 7200, 99.0, 101.0, 99.0, 101.0, None),
    ]


async def test_points_just_before_the_boundaries_open_and_close_the_bars(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    # Points at hh:59: a bar opens at the point a minute before it and closes at its own.
    prices = [100.0, 103.0, 99.0, 101.0]
    mock.get(CHART).respond(json=chart([(DAY0 - 60 + k * 3600, p) for k, p in enumerate(prices)]))
    start = datetime.fromtimestamp(DAY0, tz=UTC)
    bars = await cg.history(
        "BTC", AssetClass.CRYPTO, Interval.HOUR, start, start + timedelta(hours=4)
    )
    assert [(c.open, c.high, c.low, c.close) for c in bars] == [
        (100.0, 103.0, 100.0, 103.0),
        (103.0, 103.0, 99.0, 99.0),
        (99.0, 101.0, 99.0, 101.0),
    ]  # the fourth hour holds no point yet


async def test_day_bars_from_hourly_points_carry_24h_volume(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    points = [(DAY0 + k * 3600 + 40, 100.0 + (k % 5)) for k in range(25)]
    mock.get(CHART).respond(json=chart(points, 1000.0))
    start = datetime.fromtimestamp(DAY0, tz=UTC)
    (bar,) = await cg.history(
        "BTC", AssetClass.CRYPTO, Interval.DAY, start, start + timedelta(days=1)
    )
    assert (bar.ts.timestamp(), bar.open, bar.high, bar.low) == (DAY0, 100.0, 104.0, 100.0)
    assert bar.close == points[24][1]  # the first point of the next day
    assert bar.volume == 1024.0  # CoinGecko's rolling 24 h volume at that point


async def test_history_window_is_capped_and_clipped_to_365_days_on_demo(
    cg: CoinGeckoProvider, pro: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    route = mock.get(CHART).respond(json=chart([]))
    long_ago = datetime.fromtimestamp(NOW - 400 * 86400, tz=UTC)
    await cg.history("BTC", AssetClass.CRYPTO, Interval.DAY, long_ago, long_ago + timedelta(1000))
    params = route.calls.last.request.url.params
    first = int(params["from"]) + 3600
    assert int(params["from"]) >= NOW - 365 * 86400 and first % 86400 == 0
    assert int(params["to"]) - first == MAX_BARS * 86400 + 3600  # < 90 days: hourly points
    assert (
        await cg.history(
            "BTC", AssetClass.CRYPTO, Interval.DAY, long_ago, long_ago + timedelta(days=10)
        )
        == []
    )
    assert route.call_count == 1  # a window entirely out of reach costs no call
    pro_route = mock.get(f"{PRO}/coins/bitcoin/market_chart/range").respond(json=chart([]))
    await pro.history("BTC", AssetClass.CRYPTO, Interval.DAY, long_ago, long_ago + timedelta(10))
    assert int(pro_route.calls.last.request.url.params["from"]) < NOW - 399 * 86400


async def test_minute_bars_are_unsupported(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    route = mock.get(url__regex=r".*").respond(json={})
    start = datetime.fromtimestamp(DAY0, tz=UTC)
    await fails(
        UnsupportedError,
        cg.history("BTC", AssetClass.CRYPTO, Interval.MINUTE, start, start + timedelta(hours=1)),
    )
    assert not route.called


async def test_unknown_coin_id_on_a_coin_path_is_not_found(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    mock.get(CHART).respond(404, json={"error": "coin not found"})
    start = datetime.fromtimestamp(DAY0, tz=UTC)
    err = await fails(
        SymbolNotFoundError,
        cg.history("BTC", AssetClass.CRYPTO, Interval.HOUR, start, start + timedelta(hours=2)),
    )
    assert err.symbol == "BTC"  # type: ignore[attr-defined]


async def test_chart_schema_mismatch_is_bad_data(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    mock.get(CHART).respond(json={"prices": "none"})
    start = datetime.fromtimestamp(DAY0, tz=UTC)
    await fails(
        BadDataError,
        cg.history("BTC", AssetClass.CRYPTO, Interval.HOUR, start, start + timedelta(hours=2)),
    )


# Profile, search, news, health ----------------------------------------------------------------
PROFILE = {
    "id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "web_slug": "bitcoin",
    "hashing_algorithm": "SHA-256", "categories": ["Cryptocurrency", "Layer 1 (L1)"],
    "description": {"en": "Bitcoin is the first successful internet money."},
    "links": {"homepage": ["http://www.bitcoin.org", "", ""]},
    "genesis_date": "2009-01-03", "market_cap_rank": 1,
    "market_data": {
        "current_price": {"usd": 69840, "eur": 64375}, "market_cap": {"usd": 1373296629498},
        "high_24h": {"usd": 69805}, "low_24h": {"usd": 67985},
        "circulating_supply": 19675987.0, "max_supply": 21000000.0,
    },
}  # fmt: skip


async def test_fundamentals_from_the_coin_profile(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{BASE}/coins/bitcoin").respond(json=PROFILE)
    f = await cg.fundamentals("BTC")
    params = sent(route).url.params
    assert (params["tickers"], params["market_data"], params["localization"]) == (
        "false",
        "true",
        "false",
    )
    assert (f.symbol, f.name, f.website, f.market_cap) == (
        "BTC",
        "Bitcoin",
        "http://www.bitcoin.org",
        1373296629498.0,
    )
    assert f.description == "Bitcoin is the first successful internet money."
    assert f.extra["circulating_supply"] == 19675987.0
    assert f.extra["categories"] == ["Cryptocurrency", "Layer 1 (L1)"]
    assert f.extra["price"] == 69840.0


async def test_search_maps_coins(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    route = mock.get(f"{BASE}/search").respond(json=SEARCH)
    matches = await cg.search(" wif ")
    assert sent(route).url.params["query"] == "wif"
    assert [(m.symbol, m.name, m.provider_symbol) for m in matches] == [
        ("WIF", "WIF copy", "wif-copy"),
        ("WIF", "dogwifhat", "dogwifcoin"),
    ]
    assert all(m.source == "coingecko" and m.asset_class is AssetClass.CRYPTO for m in matches)


NEWS = [
    {"title": "Older story", "url": "https://example.com/a", "image": "https://example.com/a.png",
     "author": "A", "posted_at": "2026-05-24T10:00:00Z", "type": "news", "source_name": "Wire",
     "related_coin_ids": ["bitcoin"]},
    {"title": "Implied Volatility Explained", "url": "https://example.com/b", "image": None,
     "author": "Hans Be", "posted_at": "2026-05-25T13:08:37Z", "type": "guide",
     "source_name": "CoinGecko", "related_coin_ids": ["bitcoin", "ethereum", "unlisted-x"]},
]  # fmt: skip


async def test_news_on_the_pro_host(pro: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    route = mock.get(f"{PRO}/news").respond(json=NEWS)
    arts = await pro.news(query=None, symbol="BTC", limit=50)
    assert dict(sent(route, "x-cg-pro-api-key").url.params) == {
        "page": "1",
        "per_page": "20",
        "coin_id": "bitcoin",
        "language": "en",
        "type": "all",
    }
    assert [(a.title, a.tickers) for a in arts] == [
        ("Implied Volatility Explained", ("BTC", "ETH")),
        ("Older story", ("BTC",)),
    ]
    assert arts[0].published_at == datetime(2026, 5, 25, 13, 8, 37, tzinfo=UTC)
    assert (arts[0].source_name, arts[1].image_url) == ("CoinGecko", "https://example.com/a.png")


async def test_news_is_unsupported_off_the_pro_host_and_for_free_text(
    cg: CoinGeckoProvider, pro: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    route = mock.get(url__regex=r".*/news").respond(json=[])
    await fails(UnsupportedError, cg.news(query=None, symbol="BTC", limit=5))
    await fails(UnsupportedError, pro.news(query="etf flows", symbol=None, limit=5))
    assert not route.called


async def test_health_pings(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    route = mock.get(f"{BASE}/ping").respond(json={"gecko_says": "(V3) To the Moon!"})
    await cg.health()
    assert route.called


# Errors ---------------------------------------------------------------------------------------
async def test_429_json_with_retry_after_seconds(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/simple/price").respond(429, json=RATE_429, headers={"retry-after": "119"})
    err = await fails(RateLimitedError, cg.quote("BTC", AssetClass.CRYPTO))
    assert err.retry_after == 119.0  # type: ignore[attr-defined]


async def test_429_with_http_date_retry_after(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 45, tz=UTC), usegmt=True)
    mock.get(f"{BASE}/simple/price").respond(429, json=RATE_429, headers={"Retry-After": when})
    err = await fails(RateLimitedError, cg.quote("BTC", AssetClass.CRYPTO))
    assert err.retry_after == pytest.approx(45.0)  # type: ignore[attr-defined]


async def test_cloudflare_html_429_is_rate_limited(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    page = "<html><title>Access denied</title><h1>Error 1015</h1>You are being rate limited</html>"
    mock.get(f"{BASE}/simple/price").respond(429, html=page)
    err = await fails(RateLimitedError, cg.quote("BTC", AssetClass.CRYPTO))
    assert err.retry_after is None  # type: ignore[attr-defined]
    assert "CDN" in str(err)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"status": {"error_code": 10002, "error_message": "API Key Missing"}}),
        (400, {"status": {"error_code": 10010, "error_message": "use pro-api.coingecko.com"}}),
        (400, {"error_code": 10011, "status": {"error_message": "use api.coingecko.com"}}),
        (401, {"error": {"status": {"error_code": 10012, "error_message": "past 365 days"}}}),
        (200, {"status": {"error_code": 10005, "error_message": "not in your plan"}}),
        (401, {"error": "unauthorized"}),
    ],
)
async def test_auth_and_plan_errors(
    cg: CoinGeckoProvider, mock: respx.MockRouter, status: int, body: dict[str, Any]
) -> None:
    mock.get(f"{BASE}/simple/price").respond(status, json=body)
    await fails(ProviderAuthError, cg.quote("BTC", AssetClass.CRYPTO))


async def test_cdn_firewall_page_is_an_auth_error(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/simple/price").respond(403, html="<html>error code: 1020</html>")
    await fails(ProviderAuthError, cg.quote("BTC", AssetClass.CRYPTO))


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_unavailable(
    cg: CoinGeckoProvider, mock: respx.MockRouter, status: int
) -> None:
    mock.get(f"{BASE}/simple/price").respond(status, html="<html>cloudflare</html>")
    await fails(ProviderUnavailableError, cg.quote("BTC", AssetClass.CRYPTO))


async def test_timeout_is_unavailable(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    mock.get(f"{BASE}/simple/price").mock(side_effect=httpx.ReadTimeout("slow"))
    await fails(ProviderUnavailableError, cg.quote("BTC", AssetClass.CRYPTO))


async def test_non_json_200_is_bad_data(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    mock.get(f"{BASE}/simple/price").respond(200, html="<html>maintenance</html>")
    await fails(BadDataError, cg.quote("BTC", AssetClass.CRYPTO))


async def test_schema_mismatch_is_bad_data(cg: CoinGeckoProvider, mock: respx.MockRouter) -> None:
    mock.get(f"{BASE}/simple/price").respond(json=[{"bitcoin": 1}])
    await fails(BadDataError, cg.quote("BTC", AssetClass.CRYPTO))
    mock.get(f"{BASE}/coins/list").respond(json={"coins": []})
    await fails(BadDataError, cg.quote("ONDO", AssetClass.CRYPTO))


async def test_404_off_a_coin_path_is_bad_data(
    cg: CoinGeckoProvider, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/search").respond(404, json={"error": "Incorrect path"})
    await fails(BadDataError, cg.search("btc"))
