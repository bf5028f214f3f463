"""YahooProvider against respx mocks of the vendor's real shapes (providers.md §7)."""

from __future__ import annotations

import json
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
)
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.registry import build_http_client
from marketsvc.providers.yahoo import YahooProvider as Yahoo
from tests.fakes import FakeClock

BASE = "https://query1.finance.yahoo.com"
COOKIE_URL = "https://fc.yahoo.com"
CRUMB = "gvu2JTl5ID1"
SENTINEL = "YAHOO-SENTINEL-KEY-77"  # Yahoo is keyless; a configured key must not leak either
NOW_DT = datetime(2025, 12, 23, 2, 0, tzinfo=UTC)
NOW = NOW_DT.timestamp()

# Shapes from providers.md §7.3/§7.4 (the OpenBB cassettes recorded 2025-12).
BTC_META = json.loads("""{"currency": "USD", "symbol": "BTC-USD", "exchangeName": "CCC",
 "instrumentType": "CRYPTOCURRENCY", "firstTradeDate": 1410912000, "regularMarketTime": 1766454060,
 "gmtoffset": 0, "timezone": "UTC", "exchangeTimezoneName": "UTC", "regularMarketPrice": 88432.75,
 "fiftyTwoWeekHigh": 126198.07, "regularMarketDayHigh": 88857.305, "regularMarketDayLow": 88432.75,
 "regularMarketVolume": 36303872000, "longName": "Bitcoin USD", "chartPreviousClose": 88000.0,
 "priceHint": 2, "dataGranularity": "1d", "range": ""}""")
AAPL_ROW = json.loads("""{"language": "en-US", "quoteType": "EQUITY", "currency": "USD",
 "exchange": "NMS", "shortName": "Apple Inc.", "regularMarketPrice": 271.9168,
 "regularMarketChange": -1.7532043, "regularMarketChangePercent": -0.64062715,
 "regularMarketTime": 1766424318, "regularMarketOpen": 272.86, "regularMarketDayHigh": 273.88,
 "regularMarketDayLow": 271.51, "regularMarketVolume": 14883316,
 "regularMarketPreviousClose": 273.67, "marketCap": 4035351412736, "symbol": "AAPL"}""")
SUMMARY = json.loads("""{"quoteSummary": {"error": null, "result": [{
 "assetProfile": {"country": "United States", "website": "https://www.apple.com",
   "industry": "Consumer Electronics", "sector": "Technology", "longBusinessSummary": "Apple ...",
   "fullTimeEmployees": 166000, "companyOfficers": [{"totalPay": {"raw": 165, "fmt": "165"}}]},
 "summaryDetail": {"trailingPE": 36.4, "dividendYield": 0.0038, "beta": 1.1,
   "marketCap": 4035351412736, "forwardPE": {"raw": 32.1, "fmt": "32.10"}, "currency": "USD"},
 "price": {"longName": "Apple Inc.", "exchangeName": "NasdaqGS", "quoteType": "EQUITY"},
 "defaultKeyStatistics": {"sharesOutstanding": 14840390000, "trailingEps": {}}}]}}""")
SEARCH = json.loads("""{"explains": [], "count": 5, "news": [], "quotes": [
 {"symbol": "AAPL", "quoteType": "EQUITY", "longname": "Apple Inc.", "shortname": "Apple"},
 {"symbol": "UNI7083-USD", "quoteType": "CRYPTOCURRENCY", "shortname": "Uniswap USD"},
 {"symbol": "BRK-B", "quoteType": "EQUITY", "shortname": "Berkshire"},
 {"symbol": "CL=F", "quoteType": "FUTURE", "shortname": "Crude"},
 {"index": "quotes", "shortname": "no symbol"}]}""")
NEWS = json.loads("""{"quotes": [], "news": [
 {"uuid": "1", "title": "Older", "publisher": "Reuters", "link": "https://n.example/1",
  "providerPublishTime": 1700000000, "type": "STORY", "relatedTickers": ["BTC-USD", "BRK-B"]},
 {"uuid": "2", "title": "Newer", "publisher": "Bloomberg", "link": "https://n.example/2",
  "providerPublishTime": 1700003600, "type": "STORY",
  "thumbnail": {"resolutions": [{"url": "https://img.example/2.jpg", "width": 140}]}},
 {"uuid": "3", "title": "no link"}]}""")
INVALID_CRUMB = {"finance": {"result": None, "error": {"code": "Unauthorized", "description": "x"}}}
NOT_FOUND = {"chart": {"result": None, "error": {"code": "Not Found", "description": "delisted"}}}
SET_COOKIE = {"Set-Cookie": "A3=d=x; Domain=.yahoo.com; Path=/"}
OUTAGE = "<!doctype html><html><body><h1>Will be right back...</h1></body></html>"
HTTP_DATE = format_datetime(datetime.fromtimestamp(NOW + 90, tz=UTC), usegmt=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def settings(base: str = BASE) -> ProviderSettings:
    return ProviderSettings("yahoo", SecretStr(SENTINEL), base, True, (), None)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(settings(), timeout=1.0) as c:
        yield c


@pytest.fixture
def provider(client: httpx.AsyncClient, clock: FakeClock) -> Yahoo:
    return Yahoo(settings(), ProviderHttp("yahoo", client, clock=clock), clock=clock)


@pytest.fixture
def yahoo() -> Iterator[respx.Router]:
    with respx.mock(assert_all_called=False) as router:
        yield router


async def raises(kind: type[ProviderError], call: Awaitable[Any]) -> Any:
    """Await ``call``, expect ``kind``; neither a key nor the crumb may appear in the error."""
    with pytest.raises(kind) as info:
        await call
    for secret in (SENTINEL, CRUMB):
        assert secret not in str(info.value) and secret not in repr(info.value)
    return info.value


def params(route: respx.Route, i: int = 0) -> dict[str, str]:
    return dict(route.calls[i].request.url.params)


def search_params(q: str, *, quotes: int, news: int) -> dict[str, str]:
    return {"q": q, "quotesCount": str(quotes), "newsCount": str(news), "enableFuzzyQuery": "false"}


def chart(meta: dict[str, Any], stamps: list[int], **cols: list[Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"meta": meta}
    if stamps:
        result["timestamp"] = stamps
        result["indicators"] = {"quote": [cols], "adjclose": [{"adjclose": cols.get("close")}]}
    return {"chart": {"result": [result], "error": None}}


def route_chart(router: respx.Router, vendor: str, body: Any = None) -> respx.Route:
    body = body or chart({**BTC_META, "symbol": vendor}, [])
    return router.get(f"{BASE}/v8/finance/chart/{vendor}").respond(json=body)


def crumb_routes(router: respx.Router) -> tuple[respx.Route, respx.Route]:
    cookie = router.get(COOKIE_URL).respond(404, headers=SET_COOKIE)  # sets the A3 cookie
    return cookie, router.get(f"{BASE}/v1/test/getcrumb").respond(text=CRUMB)


def test_info_declares_batch_and_every_capability() -> None:
    assert Yahoo.info.max_batch == 50
    assert Yahoo.info.capabilities == frozenset(Capability)
    assert Yahoo.info.history_intervals == frozenset(Interval)


async def test_chart_quote_needs_no_crumb(provider: Yahoo, yahoo: respx.Router) -> None:
    cookie, crumb = crumb_routes(yahoo)
    route = route_chart(yahoo, "BTC-USD")
    q = await provider.quote("BTC", AssetClass.CRYPTO)
    assert params(route) == {"range": "1d", "interval": "1d", "includePrePost": "false"}
    assert not cookie.called and not crumb.called
    assert (q.symbol, q.price, q.currency, q.source) == ("BTC", 88432.75, "USD", "yahoo")
    assert q.timestamp == datetime.fromtimestamp(1766454060, tz=UTC)
    assert q.previous_close == 88000.0  # chartPreviousClose when previousClose is absent
    assert q.change == pytest.approx(432.75) and q.change_percent == pytest.approx(432.75 / 880)
    assert (q.high, q.low, q.volume) == (88857.305, 88432.75, 36303872000)


@pytest.mark.parametrize(
    ("symbol", "asset_class", "vendor"),
    [
        ("BRK.B", AssetClass.STOCK, "BRK-B"),
        ("TSCO.L", AssetClass.STOCK, "TSCO.L"),
        ("UNI", AssetClass.CRYPTO, "UNI7083-USD"),
        ("eth", AssetClass.CRYPTO, "ETH-USD"),
    ],
)
async def test_symbols_map_from_the_table_without_lookup(
    provider: Yahoo, yahoo: respx.Router, symbol: str, asset_class: AssetClass, vendor: str
) -> None:
    search = yahoo.get(f"{BASE}/v1/finance/search").respond(json=SEARCH)
    route = route_chart(yahoo, vendor)
    q = await provider.quote(symbol, asset_class)
    assert route.called and not search.called and q.symbol == symbol.upper()


async def test_crypto_lookup_via_search_is_cached(
    provider: Yahoo, yahoo: respx.Router, clock: FakeClock
) -> None:
    quotes = [{"symbol": "PEPE-EUR", "quoteType": "CRYPTOCURRENCY"}]
    quotes.append({"symbol": "PEPE24478-USD", "quoteType": "CRYPTOCURRENCY"})
    search = yahoo.get(f"{BASE}/v1/finance/search").respond(json={"quotes": quotes, "news": []})
    route = route_chart(yahoo, "PEPE24478-USD")
    await provider.quote("PEPE", AssetClass.CRYPTO)
    await provider.quote("PEPE", AssetClass.CRYPTO)
    assert search.call_count == 1 and route.call_count == 2
    assert params(search) == search_params("PEPE", quotes=10, news=0)
    clock.now += 25 * 3600  # the cache holds for a day
    await provider.quote("PEPE", AssetClass.CRYPTO)
    assert search.call_count == 2
    await raises(SymbolNotFoundError, provider.quote("NOPECOIN", AssetClass.CRYPTO))


@pytest.mark.parametrize("status", [404, 200])
async def test_chart_error_not_found(provider: Yahoo, yahoo: respx.Router, status: int) -> None:
    yahoo.get(f"{BASE}/v8/finance/chart/NOPE").respond(status, json=NOT_FOUND)
    await raises(SymbolNotFoundError, provider.quote("NOPE", AssetClass.STOCK))


async def test_other_chart_errors_are_bad_data(provider: Yahoo, yahoo: respx.Router) -> None:
    error = {"code": "Unprocessable Entity", "description": "1m data not available"}
    yahoo.get(f"{BASE}/v8/finance/chart/AAPL").respond(422, json={"chart": {"error": error}})
    err = await raises(BadDataError, provider.quote("AAPL", AssetClass.STOCK))
    assert "Unprocessable Entity" in str(err)


# --- history ---------------------------------------------------------------------------
async def test_daily_bars_restamped_to_utc_date_and_nulls_skipped(
    provider: Yahoo, yahoo: respx.Router
) -> None:
    meta = {**BTC_META, "symbol": "AAPL", "gmtoffset": -18000}
    stamps = [1699540200, 1699626600, 1699885800]  # Thu, Fri, Mon at 14:30 UTC (09:30 EST)
    cols = dict(open=[1, 2, None], high=[2, 3, None], low=[0, 1, None], close=[1.2, 2.2, None])
    route = route_chart(yahoo, "AAPL", chart(meta, stamps, **cols, volume=[10, None, None]))
    start, end = datetime(2023, 11, 9, tzinfo=UTC), datetime(2023, 11, 14, tzinfo=UTC)
    candles = await provider.history("AAPL", AssetClass.STOCK, Interval.DAY, start, end)
    p1, p2 = str(int(start.timestamp())), str(int(end.timestamp()))
    assert params(route) == dict(period1=p1, period2=p2, interval="1d", includePrePost="false")
    expected = [(start, 1, 1.2, 10), (start + timedelta(1), 2, 2.2, None)]
    assert [(c.ts, c.open, c.close, c.volume) for c in candles] == expected


async def test_weekly_bars_start_on_monday(provider: Yahoo, yahoo: respx.Router) -> None:
    meta, cols = {**BTC_META, "gmtoffset": -18000}, dict(open=[1], high=[2], low=[0], close=[1])
    route = route_chart(yahoo, "IBM", chart(meta, [1699281000], **cols))  # Mon 14:30 UTC
    start, end = datetime(2023, 11, 1, tzinfo=UTC), datetime(2023, 12, 1, tzinfo=UTC)
    [c] = await provider.history("IBM", AssetClass.STOCK, Interval.WEEK, start, end)
    assert params(route)["interval"] == "1wk" and c.ts == datetime(2023, 11, 6, tzinfo=UTC)


async def test_minute_window_is_clamped(provider: Yahoo, yahoo: respx.Router) -> None:
    route = route_chart(yahoo, "BTC-USD")
    start, end = NOW_DT - timedelta(days=40), NOW_DT
    assert await provider.history("BTC", AssetClass.CRYPTO, Interval.MINUTE, start, end) == []
    p = params(route)
    assert p["interval"] == "1m" and int(p["period1"]) == int(NOW - 29 * 86400)  # 1m: last 30 days
    assert int(p["period2"]) == int(NOW - 29 * 86400) + 5000 * 60  # one call's worth of bars


async def test_hour_bars_keep_their_intraday_start(provider: Yahoo, yahoo: respx.Router) -> None:
    cols = {k: [1, 2] for k in ("open", "high", "low", "close", "volume")}
    route = route_chart(yahoo, "BTC-USD", chart(BTC_META, [1766448000, 1766451600], **cols))
    start = datetime(2025, 12, 23, tzinfo=UTC)
    end = start + timedelta(hours=1, minutes=1)
    candles = await provider.history("BTC", AssetClass.CRYPTO, Interval.HOUR, start, end)
    assert params(route)["interval"] == "60m"
    assert [c.ts for c in candles] == [start, start + timedelta(hours=1)]


# --- cookie + crumb ----------------------------------------------------------------------
def quote_response(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"quoteResponse": {"result": list(rows), "error": None}}


async def test_batch_quote_primes_cookie_and_crumb_once(
    provider: Yahoo, yahoo: respx.Router
) -> None:
    cookie, crumb = crumb_routes(yahoo)
    bare = {"symbol": "BRK-B", "language": "en-US"}  # a row without data
    quote = yahoo.get(f"{BASE}/v7/finance/quote").respond(json=quote_response(AAPL_ROW, bare))
    out = await provider.quotes(["AAPL", "BRK.B", "NOPE"], AssetClass.STOCK)
    assert cookie.called and "A3=d=x" in crumb.calls[0].request.headers.get("cookie", "")
    assert params(quote) == {"symbols": "AAPL,BRK-B,NOPE", "crumb": CRUMB}
    a = out["AAPL"]
    assert not isinstance(a, ProviderError)
    assert (a.price, a.change, a.change_percent) == (271.9168, -1.7532043, -0.64062715)
    assert (a.market_cap, a.open, a.previous_close) == (4035351412736, 272.86, 273.67)
    assert a.timestamp == datetime.fromtimestamp(1766424318, tz=UTC)
    assert isinstance(out["BRK.B"], SymbolNotFoundError)
    assert isinstance(out["NOPE"], SymbolNotFoundError)  # silently left out by Yahoo
    await provider.quotes(["AAPL"], AssetClass.STOCK)
    assert crumb.call_count == 1 and cookie.call_count == 1 and quote.call_count == 2


async def test_cookie_priming_is_best_effort_and_configurable(
    provider: Yahoo, client: httpx.AsyncClient, yahoo: respx.Router
) -> None:
    yahoo.get(COOKIE_URL).mock(side_effect=httpx.ConnectError("no route"))
    crumb = yahoo.get(f"{BASE}/v1/test/getcrumb").respond(text=CRUMB)
    yahoo.get(f"{BASE}/v7/finance/quote").respond(json=quote_response(AAPL_ROW))
    out = await provider.quotes(["AAPL"], AssetClass.STOCK)
    assert crumb.called and not isinstance(out["AAPL"], ProviderError)
    http = ProviderHttp("yahoo", client)
    assert Yahoo(settings("http://sandbox.local/yahoo"), http).cookie_url is None  # not Yahoo
    assert Yahoo(settings(), http).cookie_url == COOKIE_URL
    assert Yahoo(settings(), http, cookie_url="https://c.example").cookie_url == "https://c.example"


async def test_invalid_crumb_is_refreshed_once(provider: Yahoo, yahoo: respx.Router) -> None:
    _, crumb = crumb_routes(yahoo)
    crumb.side_effect = [httpx.Response(200, text="old-crumb"), httpx.Response(200, text=CRUMB)]
    quote = yahoo.get(f"{BASE}/v7/finance/quote")
    ok = httpx.Response(200, json=quote_response(AAPL_ROW))
    quote.side_effect = [httpx.Response(401, json=INVALID_CRUMB), ok]
    out = await provider.quotes(["AAPL"], AssetClass.STOCK)
    assert not isinstance(out["AAPL"], ProviderError)
    assert [params(quote, i)["crumb"] for i in range(2)] == ["old-crumb", CRUMB]


async def test_crumb_rejected_twice_is_an_auth_error(provider: Yahoo, yahoo: respx.Router) -> None:
    _, crumb = crumb_routes(yahoo)
    quote = yahoo.get(f"{BASE}/v7/finance/quote").respond(401, json=INVALID_CRUMB)
    await raises(ProviderAuthError, provider.quotes(["AAPL"], AssetClass.STOCK))
    assert quote.call_count == 2 and crumb.call_count == 2


async def test_getcrumb_throttled_is_rate_limited(provider: Yahoo, yahoo: respx.Router) -> None:
    yahoo.get(COOKIE_URL).respond(404)
    yahoo.get(f"{BASE}/v1/test/getcrumb").respond(429, text="Too Many Requests")
    err = await raises(RateLimitedError, provider.fundamentals("AAPL"))
    assert err.retry_after == 60


# --- fundamentals, search, news ------------------------------------------------------------
async def test_fundamentals_request_and_parse(provider: Yahoo, yahoo: respx.Router) -> None:
    crumb_routes(yahoo)
    route = yahoo.get(f"{BASE}/v10/finance/quoteSummary/BRK-B").respond(json=SUMMARY)
    f = await provider.fundamentals("BRK.B")
    modules = "assetProfile,summaryDetail,price,defaultKeyStatistics"
    assert params(route) == {"modules": modules, "formatted": "false", "crumb": CRUMB}
    assert (f.symbol, f.name, f.exchange) == ("BRK.B", "Apple Inc.", "NasdaqGS")
    assert (f.sector, f.employees, f.website) == ("Technology", 166000, "https://www.apple.com")
    assert (f.pe_ratio, f.dividend_yield, f.market_cap) == (36.4, 0.0038, 4035351412736)
    assert f.shares_outstanding == 14840390000 and f.eps is None  # {} means missing
    assert f.extra["forward_pe"] == 32.1  # the {"raw","fmt"} form is tolerated
    error = {"code": "Not Found", "description": "Quote not found for symbol: NOPE"}
    body = {"quoteSummary": {"result": None, "error": error}}
    yahoo.get(f"{BASE}/v10/finance/quoteSummary/NOPE").respond(404, json=body)
    await raises(SymbolNotFoundError, provider.fundamentals("NOPE"))


async def test_search_maps_quote_types(provider: Yahoo, yahoo: respx.Router) -> None:
    route = yahoo.get(f"{BASE}/v1/finance/search").respond(json=SEARCH)
    matches = await provider.search("apple")
    assert params(route)["q"] == "apple" and params(route)["newsCount"] == "0"
    assert [(m.symbol, m.asset_class.value, m.provider_symbol, m.name) for m in matches] == [
        ("AAPL", "stock", "AAPL", "Apple Inc."),
        ("UNI", "crypto", "UNI7083-USD", "Uniswap USD"),
        ("BRK.B", "stock", "BRK-B", "Berkshire"),
    ]


async def test_news_request_and_parse(provider: Yahoo, yahoo: respx.Router) -> None:
    route = yahoo.get(f"{BASE}/v1/finance/search").respond(json=NEWS)
    newer, older = await provider.news(query=None, symbol="BTC", limit=5)
    assert params(route) == search_params("BTC-USD", quotes=0, news=5)
    assert (newer.title, newer.image_url) == ("Newer", "https://img.example/2.jpg")
    assert (older.tickers, older.source_name) == (("BTC", "BRK.B"), "Reuters")
    assert older.published_at == datetime.fromtimestamp(1700000000, tz=UTC)


# --- throttling and outages -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "expected"),
    [({}, 60.0), ({"Retry-After": "30"}, 30.0), ({"Retry-After": HTTP_DATE}, 90.0)],
)
async def test_plain_text_429_is_rate_limited(
    provider: Yahoo, yahoo: respx.Router, headers: dict[str, str], expected: float
) -> None:
    # Yahoo's own 429 carries no Retry-After: the adapter then backs off a minute.
    route = yahoo.get(f"{BASE}/v8/finance/chart/AAPL")
    route.respond(429, text="Too Many Requests\r\n", headers=headers)
    err = await raises(RateLimitedError, provider.quote("AAPL", AssetClass.STOCK))
    assert err.retry_after == pytest.approx(expected)


BAD_STAMPS = {"chart": {"result": [{"meta": {}, "timestamp": "n/a"}], "error": None}}
SERVER_ERROR = {"chart": {"result": None, "error": {"code": "Internal", "description": "x"}}}
RAGGED = chart(BTC_META, [1, 2], open=[1], high=[1, 2], low=[1, 2], close=[1, 2])


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(503, html=OUTAGE), ProviderUnavailableError),
        (httpx.Response(200, html=OUTAGE), ProviderUnavailableError),
        (httpx.Response(500, json=SERVER_ERROR), ProviderUnavailableError),
        (httpx.Response(200, html="<html><body>consent</body></html>"), BadDataError),
        (httpx.Response(200, json={"chart": {"result": [], "error": None}}), BadDataError),
        (httpx.Response(200, json=BAD_STAMPS), BadDataError),
        (httpx.Response(200, json=RAGGED), BadDataError),
        (httpx.Response(200, json={"finance": {"result": None, "error": None}}), BadDataError),
    ],
)
async def test_outages_and_bad_bodies(
    provider: Yahoo, yahoo: respx.Router, response: httpx.Response, error: type[ProviderError]
) -> None:
    yahoo.get(f"{BASE}/v8/finance/chart/BTC-USD").mock(return_value=response)
    call = provider.history("BTC", AssetClass.CRYPTO, Interval.DAY, NOW_DT - timedelta(3), NOW_DT)
    await raises(error, call)
    yahoo.get(f"{BASE}/v8/finance/chart/BTC-USD").mock(side_effect=httpx.ReadTimeout("slow"))
    await raises(ProviderUnavailableError, provider.quote("BTC", AssetClass.CRYPTO))
