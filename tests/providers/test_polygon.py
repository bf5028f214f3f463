"""PolygonProvider against respx on Massive's real response shapes (providers.md section 3):
requests (path, params, Bearer header, never a key in the URL), parses, and every error quirk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from marketsvc.config import ProviderSettings
from marketsvc.domain import AssetClass, Capability, Freshness, Interval
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
from marketsvc.providers.polygon import PolygonProvider
from marketsvc.providers.registry import build_http_client, build_provider
from tests.fakes import FakeClock

KEY = "pk-SENTINEL-7f3a9c"
BASE = "https://api.massive.com"
NOW = 1_714_000_000.0

PREV_AAPL = {
    "ticker": "AAPL",
    "queryCount": 1,
    "resultsCount": 1,
    "adjusted": True,
    "results": [
        {
            "T": "AAPL",
            "v": 95595226.0,
            "vw": 158.6074,
            "o": 162.25,
            "c": 156.8,
            "h": 162.34,
            "l": 156.72,
            "t": 1651003200000,
            "n": 899965,
        }
    ],
    "status": "OK",
    "request_id": "5e5378d5ecaf3df794bb52e45d015d2e",
    "count": 1,
}
SNAP_AAPL = {
    "day": {"c": 160.315, "h": 166.2, "l": 159.8, "o": 161.84, "v": 68840127, "vw": 162.7124},
    "fmv": 160.315,
    "lastQuote": {"P": 159.99, "S": 5, "p": 159.98, "s": 3, "t": 1651251948407646487},
    "lastTrade": {"c": None, "i": "121351", "p": 159.99, "s": 200, "t": 1651251948294080343},
    "min": {"av": 68834255, "c": 160.3, "h": 160.71, "l": 160.3, "o": 160.71, "v": 197226},
    "prevDay": {"c": 163.64, "h": 164.515, "l": 158.93, "o": 159.25, "v": 130149192},
    "ticker": "AAPL",
    "todaysChange": -3.65,
    "todaysChangePerc": -2.231,
    "updated": 1651251948294080343,
}
SNAP_BTC = {
    "day": {"c": 16260.85, "h": 16428.4, "l": 15830.4, "o": 16418.07, "v": 105008.84, "vw": 0},
    "lastTrade": {"c": [2], "i": "464569520", "p": 16242.31, "s": 0.0019, "t": 1605294230780},
    "min": {"c": 16235.1, "h": 16264.29, "l": 16129.3, "n": 558, "o": 16257.51, "t": 1684428960000},
    "prevDay": {"c": 16399.24, "h": 16418.07, "l": 16399.24, "o": 16418.07, "v": 0.99},
    "ticker": "X:BTCUSD",
    "todaysChange": -156.93,
    "todaysChangePerc": -0.956935,
    "updated": 1605330008999,
}
AGGS = {
    "ticker": "AAPL",
    "queryCount": 2,
    "resultsCount": 2,
    "adjusted": True,
    "results": [
        {
            "v": 642646396.0,
            "vw": 1.469,
            "o": 1.5032,
            "c": 1.4604,
            "h": 1.5064,
            "l": 1.4489,
            "t": 1112331600000,
            "n": 82132,
        },
        {
            "v": 578172308.0,
            "vw": 1.4589,
            "o": 1.4639,
            "c": 1.4675,
            "h": 1.4754,
            "l": 1.4343,
            "t": 1112587200000,
            "n": 65543,
        },
    ],
    "status": "OK",
    "request_id": "12afda77aab3b1936c5fb6ef4241ae42",
    "count": 2,
}
NEWS = {
    "results": [
        {
            "id": "JeJEhAVoKaqJ2zF9nzQYMg07UlEeWlis6Dsop33TPQY",
            "publisher": {"name": "MarketWatch", "homepage_url": "https://www.marketwatch.com/"},
            "title": "Netflix shares",
            "author": "MarketWatch",
            "published_utc": "2022-04-28T17:08:00Z",
            "article_url": "https://www.marketwatch.com/story/netflix",
            "tickers": ["MSFT", "NFLX", "X:BTCUSD"],
            "image_url": "https://images.mktw.net/im-533637/social",
            "description": "A story.",
            "keywords": ["Federal Reserve"],
        },
        {"id": "broken", "title": "no url", "published_utc": "2022-04-28T18:00:00Z"},
    ],
    "status": "OK",
    "request_id": "f5248459196e12f27520afd41cee5126",
    "count": 2,
}
DETAILS = {
    "results": {
        "ticker": "AAPL",
        "name": "Apple Inc.",
        "market": "stocks",
        "locale": "us",
        "primary_exchange": "XNAS",
        "type": "CS",
        "active": True,
        "currency_name": "usd",
        "cik": "0000320193",
        "market_cap": 2488795282370,
        "description": "Apple designs ...",
        "sic_code": "3571",
        "sic_description": "ELECTRONIC COMPUTERS",
        "homepage_url": "https://www.apple.com",
        "total_employees": 154000,
        "list_date": "1980-12-12",
        "share_class_shares_outstanding": 16319440000,
        "weighted_shares_outstanding": 16185181000,
    },
    "status": "OK",
    "request_id": "ce8688b5f3a571351376ebd77acd146e",
}


def settings(key: str | None = KEY) -> ProviderSettings:
    return ProviderSettings(
        name="polygon",
        api_key=SecretStr(key) if key else None,
        base_url=BASE,
        enabled=True,
        rate_limits=(),
        ws_url=None,
    )


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
async def provider(clock: FakeClock) -> AsyncIterator[PolygonProvider]:
    client = build_http_client(settings(), timeout=0.5)
    try:
        yield PolygonProvider(
            settings(), ProviderHttp("polygon", client, clock=lambda: NOW), monotonic=clock
        )
    finally:
        await client.aclose()


def assert_clean(exc: BaseException) -> None:
    """No key and no URL in any error the adapter raises."""
    for text in (str(exc), repr(exc)):
        assert KEY not in text
        assert "://" not in text


async def raised(coro: Any, kind: type[ProviderError]) -> ProviderError:
    with pytest.raises(kind) as info:
        await coro
    assert_clean(info.value)
    return info.value


def sent(route: respx.Route, n: int = -1) -> httpx.Request:
    request: httpx.Request = route.calls[n].request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(request.url)
    assert "apikey" not in {k.lower() for k in request.url.params}
    return request


# --- declaration and registry ----------------------------------------------------------------
async def test_registry_builds_polygon_with_declared_capabilities() -> None:
    async with build_http_client(settings(), timeout=1.0) as client:
        built = build_provider(settings(), ProviderHttp("polygon", client))
    assert isinstance(built, PolygonProvider)
    info = built.info
    assert info.max_batch == 250
    assert info.quote_freshness is Freshness.DELAYED
    assert info.capabilities == frozenset(Capability)
    assert info.history_intervals == frozenset(Interval)
    assert info.asset_classes == {AssetClass.STOCK, AssetClass.CRYPTO}


# --- quotes ----------------------------------------------------------------------------------
async def test_stock_quote_uses_prev_close_with_bearer_header(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    route = router.get("/v2/aggs/ticker/AAPL/prev").respond(json=PREV_AAPL)
    q = await provider.quote("AAPL", AssetClass.STOCK)
    assert sent(route).url.params["adjusted"] == "true"
    assert (q.symbol, q.price, q.open, q.high, q.low) == ("AAPL", 156.8, 162.25, 162.34, 156.72)
    assert q.volume == 95595226.0 and q.currency == "USD" and q.source == "polygon"
    # The close is "as of" the end of the day bar that starts at t.
    assert q.timestamp == datetime.fromtimestamp(1651003200 + 86400, tz=UTC)
    assert q.change is None and q.asset_class is AssetClass.STOCK


async def test_crypto_quote_maps_to_x_prefix_and_accepts_delayed_status(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    body = {**PREV_AAPL, "ticker": "X:BTCUSD", "status": "DELAYED"}
    body["results"] = [{**PREV_AAPL["results"][0], "T": "X:BTCUSD", "c": 64000.5}]  # type: ignore[index]
    route = router.get("/v2/aggs/ticker/X:BTCUSD/prev").respond(json=body)
    q = await provider.quote("BTC-USD", AssetClass.CRYPTO)
    assert route.called and q.symbol == "BTC-USD" and q.price == 64000.5
    assert q.currency == "USD" and q.asset_class is AssetClass.CRYPTO


async def test_share_class_keeps_its_dot(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    route = router.get("/v2/aggs/ticker/BRK.B/prev").respond(json=PREV_AAPL)
    await provider.quote("BRK.B", AssetClass.STOCK)
    assert route.call_count == 1


async def test_unknown_ticker_results_count_zero_is_symbol_not_found(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    body = {
        "ticker": "ZZZZ",
        "queryCount": 0,
        "resultsCount": 0,
        "adjusted": True,
        "status": "OK",
        "request_id": "x",
    }
    router.get("/v2/aggs/ticker/ZZZZ/prev").respond(json=body)
    err = await raised(provider.quote("ZZZZ", AssetClass.STOCK), SymbolNotFoundError)
    assert err.provider == "polygon"


async def test_batch_stock_quotes_use_snapshot_and_report_missing_symbols(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    msft = {**SNAP_AAPL, "ticker": "MSFT", "lastTrade": {**SNAP_AAPL["lastTrade"], "p": 420.5}}  # type: ignore[dict-item]
    route = router.get("/v2/snapshot/locale/us/markets/stocks/tickers").respond(
        json={"count": 2, "status": "OK", "tickers": [SNAP_AAPL, msft]}
    )
    out = await provider.quotes(["AAPL", "MSFT", "ZZZZ"], AssetClass.STOCK)
    assert sent(route).url.params["tickers"] == "AAPL,MSFT,ZZZZ"
    assert list(out) == ["AAPL", "MSFT", "ZZZZ"]
    aapl = out["AAPL"]
    assert not isinstance(aapl, ProviderError)
    assert (aapl.price, aapl.change, aapl.change_percent) == (159.99, -3.65, -2.231)
    assert aapl.previous_close == 163.64 and aapl.open == 161.84 and aapl.volume == 68840127
    # Stock trade times are nanoseconds.
    assert aapl.timestamp == datetime(2022, 4, 29, 17, 5, 48, 294080, tzinfo=UTC)
    assert getattr(out["MSFT"], "price", None) == 420.5
    assert isinstance(out["ZZZZ"], SymbolNotFoundError)


async def test_batch_crypto_quotes_use_crypto_snapshot_with_ms_times(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    route = router.get("/v2/snapshot/locale/global/markets/crypto/tickers").respond(
        json={"count": 1, "status": "OK", "tickers": [SNAP_BTC]}
    )
    out = await provider.quotes(["BTC", "ETH"], AssetClass.CRYPTO)
    assert sent(route).url.params["tickers"] == "X:BTCUSD,X:ETHUSD"
    btc = out["BTC"]
    assert not isinstance(btc, ProviderError)
    assert btc.price == 16242.31 and btc.previous_close == 16399.24
    assert btc.timestamp == datetime.fromtimestamp(1605294230.780, tz=UTC)
    assert isinstance(out["ETH"], SymbolNotFoundError)


async def test_snapshot_before_the_session_falls_back_to_latest_filled_bar(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    row = {
        "ticker": "AAPL",
        "day": {"c": 0, "o": 0, "h": 0, "l": 0, "v": 0},
        "min": {"c": 0},
        "prevDay": {"c": 163.64},
        "updated": 1651251948294080343,
        "todaysChange": 0,
        "todaysChangePerc": 0,
    }
    router.get("/v2/snapshot/locale/us/markets/stocks/tickers").respond(
        json={"count": 1, "status": "OK", "tickers": [row]}
    )
    q = (await provider.quotes(["AAPL"], AssetClass.STOCK))["AAPL"]
    assert not isinstance(q, ProviderError)
    assert q.price == 163.64 and q.open is None and q.volume is None


async def test_snapshot_row_without_any_price_is_bad_data_for_that_symbol_only(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    router.get("/v2/snapshot/locale/us/markets/stocks/tickers").respond(
        json={"count": 2, "status": "OK", "tickers": [{"ticker": "MSFT"}, SNAP_AAPL]}
    )
    out = await provider.quotes(["MSFT", "AAPL"], AssetClass.STOCK)
    assert isinstance(out["MSFT"], BadDataError)
    assert_clean(out["MSFT"])
    assert getattr(out["AAPL"], "price", None) == 159.99


async def test_snapshot_not_in_free_plan_is_auth_error(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    body = {
        "status": "NOT_AUTHORIZED",
        "request_id": "x",
        "message": "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing",
    }
    router.get("/v2/snapshot/locale/us/markets/stocks/tickers").respond(403, json=body)
    err = await raised(provider.quotes(["AAPL"], AssetClass.STOCK), ProviderAuthError)
    assert "not in plan" in str(err)


async def test_empty_batch_never_asks_for_the_whole_market(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    route = router.get("/v2/snapshot/locale/us/markets/stocks/tickers")
    assert await provider.quotes([], AssetClass.STOCK) == {}
    assert not route.called


# --- history ---------------------------------------------------------------------------------
async def test_history_requests_ms_range_and_parses_bars(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    start = datetime(2005, 4, 1, tzinfo=UTC)
    end = datetime(2005, 4, 4, 5, tzinfo=UTC)  # covers the second bar (04:00)
    ms = (int(start.timestamp() * 1000), int(end.timestamp() * 1000) - 1)
    path = f"/v2/aggs/ticker/AAPL/range/1/day/{ms[0]}/{ms[1]}"
    route = router.get(path).respond(json=AGGS)
    candles = await provider.history("AAPL", AssetClass.STOCK, Interval.DAY, start, end)
    params = sent(route).url.params
    assert (params["adjusted"], params["sort"], params["limit"]) == ("true", "asc", "50000")
    assert len(candles) == 2
    first = candles[0]
    assert first.ts == datetime(2005, 4, 1, 5, tzinfo=UTC)
    assert (first.open, first.high, first.low, first.close) == (1.5032, 1.5064, 1.4489, 1.4604)
    assert first.volume == 642646396.0

    narrower = datetime(2005, 4, 4, 4, tzinfo=UTC)
    ms = (int(start.timestamp() * 1000), int(narrower.timestamp() * 1000) - 1)
    router.get(f"/v2/aggs/ticker/AAPL/range/1/day/{ms[0]}/{ms[1]}").respond(json=AGGS)
    trimmed = await provider.history("AAPL", AssetClass.STOCK, Interval.DAY, start, narrower)
    assert [c.ts.day for c in trimmed] == [1]  # the vendor's extra bar is trimmed to [start, end)


async def test_history_follows_next_url_with_the_header_not_a_query_key(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=3)
    page1 = {
        **AGGS,
        "ticker": "X:BTCUSD",
        "results": [
            {"o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10, "t": int(start.timestamp() * 1000)}
        ],
        "next_url": f"{BASE}:443/v2/aggs/ticker/X:BTCUSD/range/1/hour/1704070800000/x?cursor=abc",
    }
    page2 = {
        **AGGS,
        "ticker": "X:BTCUSD",
        "results": [
            {
                "o": 2,
                "h": 3,
                "l": 1.5,
                "c": 2.5,
                "v": 20,
                "t": int(start.timestamp() * 1000) + 3_600_000,
            },
            {"o": 9, "h": 9, "l": 9, "c": 9, "v": 9, "t": int(end.timestamp() * 1000)},
        ],
    }
    first = router.get(path__regex=r"/range/1/hour/\d+/\d+$").respond(json=page1)
    second = router.get("/v2/aggs/ticker/X:BTCUSD/range/1/hour/1704070800000/x").respond(json=page2)
    candles = await provider.history("BTC", AssetClass.CRYPTO, Interval.HOUR, start, end)
    assert first.call_count == 1 and second.call_count == 1
    assert sent(second).url.params["cursor"] == "abc"
    assert [c.close for c in candles] == [1.5, 2.5]  # the bar at ``end`` is dropped


async def test_history_refuses_a_next_url_on_another_host(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    page = {**AGGS, "next_url": "https://evil.example/v2/aggs/steal?cursor=1"}
    router.get(path__regex=r"/range/1/day/").respond(json=page)
    evil = respx.get("https://evil.example/v2/aggs/steal").respond(json=AGGS)
    start = datetime(2005, 4, 1, tzinfo=UTC)
    await raised(
        provider.history(
            "AAPL", AssetClass.STOCK, Interval.DAY, start, start + timedelta(days=400)
        ),
        BadDataError,
    )
    assert not evil.called


async def test_history_without_results_is_empty(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    body = {"ticker": "AAPL", "queryCount": 0, "resultsCount": 0, "status": "OK", "request_id": "x"}
    router.get(path__regex=r"/range/1/minute/").respond(json=body)
    start = datetime(2024, 1, 6, tzinfo=UTC)
    assert (
        await provider.history(
            "AAPL", AssetClass.STOCK, Interval.MINUTE, start, start + timedelta(hours=1)
        )
        == []
    )


# --- news, fundamentals, search, health --------------------------------------------------------
async def test_news_by_ticker_request_and_parse(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    route = router.get("/v2/reference/news").respond(json=NEWS)
    articles = await provider.news(query=None, symbol="NFLX", limit=5)
    params = sent(route).url.params
    assert dict(params) == {
        "ticker": "NFLX",
        "limit": "5",
        "order": "desc",
        "sort": "published_utc",
    }
    assert len(articles) == 1  # the story without a URL is skipped
    a = articles[0]
    assert a.title == "Netflix shares" and a.url == "https://www.marketwatch.com/story/netflix"
    assert a.published_at == datetime(2022, 4, 28, 17, 8, tzinfo=UTC)
    assert a.source_name == "MarketWatch" and a.provider == "polygon" and a.summary == "A story."
    assert a.tickers == ("MSFT", "NFLX", "BTC")


async def test_news_by_free_text_or_crypto_is_unsupported_without_a_call(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    route = router.get("/v2/reference/news")
    await raised(provider.news(query="bitcoin", symbol=None, limit=5), UnsupportedError)
    await raised(provider.news(query=None, symbol="BTC", limit=5), UnsupportedError)
    assert not route.called


async def test_fundamentals_maps_ticker_details(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    route = router.get("/v3/reference/tickers/AAPL").respond(json=DETAILS)
    f = await provider.fundamentals("AAPL")
    sent(route)
    assert (f.name, f.exchange, f.currency, f.country) == ("Apple Inc.", "NASDAQ", "USD", "US")
    assert f.employees == 154000 and f.market_cap == 2488795282370
    assert f.shares_outstanding == 16319440000 and f.industry == "ELECTRONIC COMPUTERS"
    assert f.website == "https://www.apple.com" and f.extra["cik"] == "0000320193"


async def test_fundamentals_404_not_found_is_symbol_not_found(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    body = {"status": "NOT_FOUND", "request_id": "x", "message": "Ticker not found."}
    router.get("/v3/reference/tickers/ZZZZ").respond(404, json=body)
    await raised(provider.fundamentals("ZZZZ"), SymbolNotFoundError)


async def test_search_maps_stocks_and_usd_crypto_and_skips_fx(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    rows = [
        {"ticker": "A", "name": "Agilent Technologies Inc.", "market": "stocks", "active": True},
        {
            "ticker": "X:BTCUSD",
            "name": "Bitcoin - United States dollar",
            "market": "crypto",
            "base_currency_symbol": "BTC",
            "currency_symbol": "USD",
        },
        {"ticker": "C:EURUSD", "name": "Euro - United States dollar", "market": "fx"},
    ]
    route = router.get("/v3/reference/tickers").respond(
        json={"results": rows, "status": "OK", "request_id": "x", "count": 3}
    )
    matches = await provider.search("a")
    assert sent(route).url.params["search"] == "a"
    assert [(m.symbol, m.asset_class, m.provider_symbol) for m in matches] == [
        ("A", AssetClass.STOCK, "A"),
        ("BTC", AssetClass.CRYPTO, "X:BTCUSD"),
    ]


async def test_health_is_one_reference_row(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    route = router.get("/v3/reference/tickers").respond(
        json={"status": "OK", "request_id": "x", "count": 0}
    )
    await provider.health()
    assert sent(route).url.params["limit"] == "1"


# --- symbol mapping ---------------------------------------------------------------------------
async def test_table_coin_needs_no_lookup(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    lookup = router.get("/v3/reference/tickers")
    router.get("/v2/aggs/ticker/X:SOLUSD/prev").respond(json=PREV_AAPL)
    await provider.quote("SOL", AssetClass.CRYPTO)
    assert not lookup.called


async def test_other_coin_is_looked_up_once_and_refreshed_after_a_day(
    router: respx.MockRouter, provider: PolygonProvider, clock: FakeClock
) -> None:
    lookup = router.get("/v3/reference/tickers").respond(
        json={"results": [{"ticker": "X:PEPEUSD", "market": "crypto"}], "status": "OK", "count": 1}
    )
    prev = router.get("/v2/aggs/ticker/X:PEPEUSD/prev").respond(json=PREV_AAPL)
    await provider.quote("PEPE", AssetClass.CRYPTO)
    params = sent(lookup).url.params
    assert (params["ticker"], params["market"]) == ("X:PEPEUSD", "crypto")
    await provider.quote("PEPE", AssetClass.CRYPTO)
    assert lookup.call_count == 1 and prev.call_count == 2
    clock.advance(25 * 3600)
    await provider.quote("PEPE", AssetClass.CRYPTO)
    assert lookup.call_count == 2


async def test_unknown_coin_is_not_found_and_the_miss_is_cached(
    router: respx.MockRouter, provider: PolygonProvider
) -> None:
    lookup = router.get("/v3/reference/tickers").respond(
        json={"status": "OK", "request_id": "x", "count": 0}
    )
    await raised(provider.quote("NOPE", AssetClass.CRYPTO), SymbolNotFoundError)
    out = await provider.quotes(["NOPE"], AssetClass.CRYPTO)
    assert isinstance(out["NOPE"], SymbolNotFoundError)
    assert lookup.call_count == 1


# --- error mapping ----------------------------------------------------------------------------
THROTTLE = {
    "status": "ERROR",
    "request_id": "x",
    "error": (
        "You've exceeded the maximum requests per minute, please wait or upgrade your "
        "subscription to continue. https://polygon.io/pricing"
    ),
}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(429, json=THROTTLE, headers={"Retry-After": "7"}), 7.0),
        (
            httpx.Response(
                429,
                json=THROTTLE,
                headers={
                    "Retry-After": format_datetime(
                        datetime.fromtimestamp(NOW + 120, tz=UTC), usegmt=True
                    )
                },
            ),
            120.0,
        ),
        # No header documented (and one project saw an empty body): wait out the minute.
        (httpx.Response(429, content=b""), 60.0),
        (httpx.Response(200, json=THROTTLE), 60.0),
    ],
    ids=["seconds", "http-date", "empty-body", "error-in-200"],
)
async def test_throttle_answers_are_rate_limited_with_retry_after(
    router: respx.MockRouter, provider: PolygonProvider, response: httpx.Response, expected: float
) -> None:
    router.get("/v2/aggs/ticker/AAPL/prev").mock(return_value=response)
    err = await raised(provider.quote("AAPL", AssetClass.STOCK), RateLimitedError)
    assert isinstance(err, RateLimitedError) and err.retry_after == pytest.approx(expected)


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (
            httpx.Response(
                401, json={"status": "ERROR", "request_id": "x", "error": "Unknown API Key"}
            ),
            ProviderAuthError,
        ),
        (
            httpx.Response(
                403,
                json={
                    "status": "NOT_AUTHORIZED",
                    "request_id": "x",
                    "message": (
                        "Your plan doesn't include this data timeframe. Please upgrade "
                        "your plan at https://polygon.io/pricing"
                    ),
                },
            ),
            ProviderAuthError,
        ),
        (
            httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>"),
            ProviderUnavailableError,
        ),
        (
            httpx.Response(500, json={"status": "ERROR", "request_id": "x"}),
            ProviderUnavailableError,
        ),
        (httpx.Response(200, text="<html>maintenance</html>"), BadDataError),
        (httpx.Response(200, json={"status": "OK", "results": {"c": 1}}), BadDataError),
        (httpx.Response(200, json={"status": "OK", "results": [{"o": 1, "t": 1}]}), BadDataError),
        (httpx.Response(200, json=[1, 2, 3]), BadDataError),
        (httpx.Response(200, json={"results": []}), BadDataError),  # no status at all
    ],
    ids=[
        "401",
        "403-message",
        "502-html",
        "500-json",
        "non-json",
        "results-not-list",
        "bar-missing-close",
        "not-an-object",
        "no-status",
    ],
)
async def test_error_answers_map_to_typed_errors(
    router: respx.MockRouter,
    provider: PolygonProvider,
    response: httpx.Response,
    kind: type[ProviderError],
) -> None:
    router.get("/v2/aggs/ticker/AAPL/prev").mock(return_value=response)
    await raised(provider.quote("AAPL", AssetClass.STOCK), kind)


async def test_timeout_is_unavailable(router: respx.MockRouter, provider: PolygonProvider) -> None:
    router.get("/v2/aggs/ticker/AAPL/prev").mock(side_effect=httpx.ReadTimeout("slow"))
    err = await raised(provider.quote("AAPL", AssetClass.STOCK), ProviderUnavailableError)
    assert isinstance(err, ProviderUnavailableError) and err.reason == "timeout"
    assert "timed out" in str(err)


async def test_missing_key_fails_before_any_call(router: respx.MockRouter) -> None:
    route = router.get("/v2/aggs/ticker/AAPL/prev").respond(json=PREV_AAPL)
    async with build_http_client(settings(None), timeout=1.0) as client:
        keyless = PolygonProvider(settings(None), ProviderHttp("polygon", client))
        await raised(keyless.quote("AAPL", AssetClass.STOCK), ProviderAuthError)
    assert not route.called


async def test_stock_only_paths_reject_other_asset_classes(provider: PolygonProvider) -> None:
    await raised(provider.fundamentals("BTC"), UnsupportedError)
