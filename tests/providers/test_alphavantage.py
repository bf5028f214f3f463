"""AlphaVantageProvider against respx mocks of the vendor's real shapes (providers.md §6)."""

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
    UnsupportedError,
)
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.alphavantage import AlphaVantageProvider as AV
from marketsvc.providers.registry import build_http_client
from tests.fakes import FakeClock

KEY = "AV-SENTINEL-KEY-4242"
BASE = "https://www.alphavantage.co"
NOW = datetime(2024, 11, 5, 15, 0, tzinfo=UTC).timestamp()  # a Tuesday, 10:00 New York

# Shapes as providers.md §6.3/§6.4 quote them (values are strings, errors come with HTTP 200).
GLOBAL_QUOTE = json.loads("""{"Global Quote": {"01. symbol": "MSFT", "02. open": "112.6300",
 "03. high": "113.1700", "04. low": "110.6400", "05. price": "112.1300", "06. volume": "29062853",
 "07. latest trading day": "2018-10-05", "08. previous close": "112.7900", "09. change": "-0.6600",
 "10. change percent": "-0.5852%"}}""")
EXCHANGE_RATE = json.loads("""{"Realtime Currency Exchange Rate": {"1. From_Currency Code": "BTC",
 "2. From_Currency Name": "Bitcoin", "3. To_Currency Code": "USD", "4. To_Currency Name":
 "United States Dollar", "5. Exchange Rate": "109631.43060700",
 "6. Last Refreshed": "2017-12-20 19:23:21", "7. Time Zone": "UTC"}}""")
NEWS = json.loads("""{"items": "2", "sentiment_score_definition": "x <= -0.35: Bearish",
 "feed": [{"title": "Older", "url": "https://n.example/1", "time_published": "20240101T120000",
   "authors": [], "summary": "s1", "banner_image": "", "source": "Benzinga",
   "ticker_sentiment": [{"ticker": "CRYPTO:BTC"}, {"ticker": "FOREX:USD"}]},
  {"title": "Newer", "url": "https://n.example/2", "time_published": "20240102T0930",
   "banner_image": "https://img.example/2.png", "source": "Reuters",
   "ticker_sentiment": [{"ticker": "AAPL"}]},
  {"title": "no url"}]}""")
OVERVIEW = json.loads("""{"Symbol": "IBM", "AssetType": "Common Stock", "Name": "IBM Corp",
 "Description": "IBM ...", "Exchange": "NYSE", "Currency": "USD", "Country": "USA",
 "Sector": "TECHNOLOGY", "Industry": "COMPUTER", "FullTimeEmployees": "288300",
 "MarketCapitalization": "123456789", "PERatio": "22.5", "EPS": "7.5", "DividendYield": "None",
 "Beta": "0.71", "52WeekHigh": "199.18", "52WeekLow": "120.55", "SharesOutstanding": "916000000",
 "ForwardPE": "None", "PEGRatio": "4.1", "OfficialSite": "https://www.ibm.com"}""")
SEARCH = json.loads("""{"bestMatches": [
 {"1. symbol": "BA", "2. name": "The Boeing Company", "3. type": "Equity", "9. matchScore": "1.0"},
 {"1. symbol": "BRK-B", "2. name": "Berkshire Hathaway", "3. type": "Equity"}]}""")
DAILY_QUOTA = (
    f"We have detected your API key as {KEY} and our standard API rate limit is 25 requests per"
    " day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/"
)
MINUTE_NOTE = (
    "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute"
    " and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like"
)
BURST = (
    "Thank you for using Alpha Vantage! Please consider spreading out your free API requests more"
    " sparingly (1 request per second). You may subscribe to any of the premium plans at"
    " https://www.alphavantage.co/premium/ to lift the free key rate limit (25 requests per day)"
)
BAD_PRICE = {"Global Quote": {**GLOBAL_QUOTE["Global Quote"], "05. price": "n/a"}}
INVALID_CALL = "Invalid API call. Please retry or visit the documentation for TIME_SERIES_DAILY."


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def provider(clock: FakeClock) -> AsyncIterator[AV]:
    settings = ProviderSettings("alphavantage", SecretStr(KEY), BASE, True, (), None)
    client = build_http_client(settings, timeout=1.0)
    yield AV(settings, ProviderHttp("alphavantage", client, clock=clock), clock=clock)
    await client.aclose()


@pytest.fixture
def av() -> Iterator[respx.Router]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


async def raises(kind: type[ProviderError], call: Awaitable[Any]) -> Any:
    """Await ``call``, expect ``kind``, and check the key never leaks into the error."""
    with pytest.raises(kind) as info:
        await call
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    return info.value


def params(route: respx.Route, i: int = 0) -> dict[str, str]:
    """The query sent, once the key is checked to ride along as ``apikey`` (its only place)."""
    sent = dict(route.calls[i].request.url.params)
    assert sent.pop("apikey") == KEY
    return sent


def bar(o: str, c: str) -> dict[str, str]:
    return {"1. open": o, "2. high": "9", "3. low": "0.5", "4. close": c, "5. volume": "1000"}


def test_info_declares_the_free_tier() -> None:
    assert AV.info.max_batch == 1 and AV.info.max_bars_per_call == 100
    assert Capability.BATCH_QUOTE not in AV.info.capabilities
    assert {Capability.QUOTE, Capability.HISTORY, Capability.NEWS} <= AV.info.capabilities


async def test_stock_quote_request_and_parse(provider: AV, av: respx.Router) -> None:
    route = av.get("/query").respond(json=GLOBAL_QUOTE)
    q = await provider.quote("MSFT", AssetClass.STOCK)
    assert params(route) == {"function": "GLOBAL_QUOTE", "symbol": "MSFT"}
    assert KEY not in str(route.calls[0].request.headers)  # the key travels only as apikey=
    assert (q.price, q.change, q.change_percent, q.volume) == (112.13, -0.66, -0.5852, 29062853)
    assert (q.open, q.high, q.low, q.previous_close) == (112.63, 113.17, 110.64, 112.79)
    assert (q.currency, q.source, q.asset_class) == ("USD", "alphavantage", AssetClass.STOCK)
    # Only the trading day is given: a past day is stamped at its 16:00 New York close,
    # today (before the close) at the time of the answer.
    assert q.timestamp == datetime(2018, 10, 5, 20, 0, tzinfo=UTC)
    today = {**GLOBAL_QUOTE["Global Quote"], "07. latest trading day": "2024-11-05"}
    av.get("/query").respond(json={"Global Quote": today})
    assert (await provider.quote("MSFT", AssetClass.STOCK)).timestamp.timestamp() == NOW


async def test_empty_global_quote_is_symbol_not_found(provider: AV, av: respx.Router) -> None:
    av.get("/query").respond(json={"Global Quote": {}})
    err = await raises(SymbolNotFoundError, provider.quote("NOPE", AssetClass.STOCK))
    assert err.symbol == "NOPE"


async def test_crypto_quote_uses_currency_exchange_rate(provider: AV, av: respx.Router) -> None:
    route = av.get("/query").respond(json=EXCHANGE_RATE)
    q = await provider.quote("btc", AssetClass.CRYPTO)
    assert params(route) == dict(
        function="CURRENCY_EXCHANGE_RATE", from_currency="BTC", to_currency="USD"
    )
    assert (q.symbol, q.price, q.currency) == ("BTC", 109631.430607, "USD")
    assert q.timestamp == datetime(2017, 12, 20, 19, 23, 21, tzinfo=UTC)
    av.get("/query").respond(json={"Error Message": INVALID_CALL})  # unknown currency
    await raises(SymbolNotFoundError, provider.quote("NOPE", AssetClass.CRYPTO))


async def test_daily_history_filters_and_sorts_oldest_first(provider: AV, av: respx.Router) -> None:
    days = ("2024-11-04", "2024-11-01", "2024-10-31")  # the vendor lists newest first
    series = {d: bar(str(i), f"{i}.5") for i, d in enumerate(days, 1)}
    body = {"Meta Data": {"5. Time Zone": "US/Eastern"}, "Time Series (Daily)": series}
    route = av.get("/query").respond(json=body)
    start, end = datetime(2024, 11, 1, tzinfo=UTC), datetime(2024, 11, 5, tzinfo=UTC)
    candles = await provider.history("IBM", AssetClass.STOCK, Interval.DAY, start, end)
    assert params(route) == dict(function="TIME_SERIES_DAILY", symbol="IBM", outputsize="compact")
    expected = [(1, 2, 2.5, 1e3), (4, 1, 1.5, 1e3)]  # 2024-10-31 is before start
    assert [(c.ts.day, c.open, c.close, c.volume) for c in candles] == expected


@pytest.mark.parametrize(("iv", "code"), [(Interval.MINUTE, "1min"), (Interval.HOUR, "60min")])
async def test_intraday_new_york_time_becomes_utc(
    provider: AV, av: respx.Router, iv: Interval, code: str
) -> None:
    body = {
        "Meta Data": {"4. Interval": code, "6. Time Zone": "US/Eastern"},
        f"Time Series ({code})": {"2017-12-18 14:56:00": bar("86.49", "86.50")},
    }
    route = av.get("/query").respond(json=body)
    day = datetime(2017, 12, 18, tzinfo=UTC)
    candles = await provider.history("MSFT", AssetClass.STOCK, iv, day, day + timedelta(1))
    assert params(route) == dict(
        function="TIME_SERIES_INTRADAY",
        symbol="MSFT",
        interval=code,
        outputsize="compact",
        extended_hours="false",
    )
    assert [c.ts for c in candles] == [datetime(2017, 12, 18, 19, 56, tzinfo=UTC)]  # EST = UTC-5


async def test_weekly_keys_become_the_monday_of_their_week(provider: AV, av: respx.Router) -> None:
    route = av.get("/query").respond(json={"Weekly Time Series": {"2024-11-01": bar("1", "2")}})
    start, end = datetime(2024, 10, 1, tzinfo=UTC), datetime(2024, 12, 1, tzinfo=UTC)
    candles = await provider.history("IBM", AssetClass.STOCK, Interval.WEEK, start, end)
    assert params(route)["function"] == "TIME_SERIES_WEEKLY"
    assert [c.ts for c in candles] == [datetime(2024, 10, 28, tzinfo=UTC)]


OLD_DIGITAL_ROW = {
    f"{n}{s}. {name} ({cur})": str(value * (7 if cur == "CNY" else 1))
    for n, name, value in ((1, "open", 10), (2, "high", 12), (3, "low", 9), (4, "close", 11))
    for s, cur in (("a", "CNY"), ("b", "USD"))
}


@pytest.mark.parametrize(
    "row",
    [
        {"1. open": "10", "2. high": "12", "3. low": "9", "4. close": "11", "5. volume": "7.5"},
        {**OLD_DIGITAL_ROW, "5. volume": "7.5", "6. market cap (USD)": "82.5"},  # older layout
    ],
)
async def test_digital_currency_daily_tolerates_both_key_styles(
    provider: AV, av: respx.Router, row: dict[str, str]
) -> None:
    body = {"Time Series (Digital Currency Daily)": {"2024-11-04": row}}
    route = av.get("/query").respond(json=body)
    t0 = datetime(2024, 11, 1, tzinfo=UTC)
    [c] = await provider.history("BTC", AssetClass.CRYPTO, Interval.DAY, t0, t0 + timedelta(5))
    assert params(route) == {"function": "DIGITAL_CURRENCY_DAILY", "symbol": "BTC", "market": "USD"}
    assert c.ts == t0 + timedelta(3)
    assert (c.open, c.high, c.low, c.close, c.volume) == (10, 12, 9, 11, 7.5)


async def test_crypto_intraday_is_unsupported(provider: AV, av: respx.Router) -> None:
    route = av.get("/query").respond(json={})
    now = datetime.now(UTC)
    call = provider.history("BTC", AssetClass.CRYPTO, Interval.MINUTE, now, now)
    await raises(UnsupportedError, call)
    assert not route.called  # premium (CRYPTO_INTRADAY): no call spent


async def test_news_sentiment_request_and_parse(provider: AV, av: respx.Router) -> None:
    route = av.get("/query").respond(json=NEWS)
    articles = await provider.news(query=None, symbol="BTC", limit=5)
    assert params(route) == dict(
        function="NEWS_SENTIMENT", sort="LATEST", limit="5", tickers="CRYPTO:BTC"
    )
    newer, older = articles
    assert (newer.title, older.title) == ("Newer", "Older")
    assert newer.published_at == datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
    assert (newer.image_url, newer.source_name) == ("https://img.example/2.png", "Reuters")
    assert newer.tickers == ("AAPL",)
    assert (older.image_url, older.tickers, older.provider) == (None, ("BTC",), "alphavantage")
    assert len(await provider.news(query=None, symbol="BTC", limit=1)) == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tech", ("topics", "technology")),
        ("Bitcoin", ("tickers", "CRYPTO:BTC")),
        ("tsla", ("tickers", "TSLA")),
    ],
)
async def test_news_query_maps_to_topics_or_tickers(
    provider: AV, av: respx.Router, query: str, expected: tuple[str, str]
) -> None:
    route = av.get("/query").respond(json={"feed": []})
    assert await provider.news(query=query, symbol=None, limit=3) == []
    assert params(route)[expected[0]] == expected[1]
    await raises(UnsupportedError, provider.news(query="fed rate decision", symbol=None, limit=3))
    assert route.call_count == 1  # free text has no NEWS_SENTIMENT filter: no call spent


async def test_overview_maps_fields_and_none_strings(provider: AV, av: respx.Router) -> None:
    route = av.get("/query").respond(json=OVERVIEW)
    f = await provider.fundamentals("IBM")
    assert params(route) == {"function": "OVERVIEW", "symbol": "IBM"}
    assert (f.name, f.sector, f.employees) == ("IBM Corp", "TECHNOLOGY", 288300)
    assert (f.market_cap, f.pe_ratio, f.shares_outstanding) == (123456789, 22.5, 916000000)
    assert (f.dividend_yield, f.website) == (None, "https://www.ibm.com")
    assert f.extra["PEGRatio"] == "4.1" and "ForwardPE" not in f.extra
    av.get("/query").respond(json={})  # OVERVIEW's answer for an unknown symbol
    await raises(SymbolNotFoundError, provider.fundamentals("NOPE"))


async def test_search_maps_vendor_symbols_and_adds_table_coins(
    provider: AV, av: respx.Router
) -> None:
    route = av.get("/query").respond(json=SEARCH)
    matches = await provider.search("bitcoin")
    assert params(route) == {"function": "SYMBOL_SEARCH", "keywords": "bitcoin"}
    assert [(m.symbol, m.asset_class.value, m.provider_symbol) for m in matches] == [
        ("BTC", "crypto", "BTC"),
        ("BCH", "crypto", "BCH"),
        ("BA", "stock", "BA"),
        ("BRK.B", "stock", "BRK-B"),
    ]


async def test_share_class_lookup_is_cached_for_a_day(
    provider: AV, av: respx.Router, clock: FakeClock
) -> None:
    search = av.get("/query", params={"function": "SYMBOL_SEARCH"}).respond(json=SEARCH)
    quote = av.get("/query", params={"function": "GLOBAL_QUOTE"}).respond(json=GLOBAL_QUOTE)
    await provider.quote("BRK.B", AssetClass.STOCK)
    await provider.quote("BRK.B", AssetClass.STOCK)
    assert search.call_count == 1 and params(search)["keywords"] == "BRK.B"
    assert [params(quote, i)["symbol"] for i in range(2)] == ["BRK-B", "BRK-B"]
    await provider.quote("MSFT", AssetClass.STOCK)  # plain tickers never need a lookup
    assert search.call_count == 1
    clock.now += 25 * 3600
    await provider.quote("BRK.B", AssetClass.STOCK)
    assert search.call_count == 2


# --- throttling and errors: Alpha Vantage answers HTTP 200 to all of them -----------------
@pytest.mark.parametrize(
    ("body", "wait"),
    [
        ({"Information": DAILY_QUOTA}, 9 * 3600.0),  # 15:00 UTC → next UTC midnight
        ({"Note": MINUTE_NOTE}, 60.0),
        ({"Information": BURST}, 1.0),
    ],
)
async def test_throttle_messages_are_rate_limited(
    provider: AV, av: respx.Router, body: dict[str, str], wait: float
) -> None:
    av.get("/query").respond(json=body)
    err = await raises(RateLimitedError, provider.quote("IBM", AssetClass.STOCK))
    assert err.retry_after == pytest.approx(wait)


@pytest.mark.parametrize(
    "body",
    [
        {"Information": "Thank you! The outputsize=full parameter value is a premium feature ..."},
        {"Information": "Thank you for using Alpha Vantage! This is a premium endpoint. ..."},
        {"Error Message": "the parameter apikey is invalid or missing. Please claim your key ..."},
        {"Information": "The **demo** API key is for demo purposes only. Please claim ..."},
    ],
)
async def test_premium_and_key_messages_are_auth_errors(
    provider: AV, av: respx.Router, body: dict[str, str]
) -> None:
    av.get("/query").respond(json=body)
    await raises(ProviderAuthError, provider.quote("IBM", AssetClass.STOCK))
    # "Error Message" without a symbol in the call: the call itself was rejected.
    av.get("/query").respond(json={"Error Message": "This API function (X) does not exist."})
    await raises(BadDataError, provider.search("ibm"))


async def test_missing_key_fails_before_any_call(clock: FakeClock, av: respx.Router) -> None:
    route = av.get("/query").respond(json=GLOBAL_QUOTE)
    settings = ProviderSettings("alphavantage", None, BASE, True, (), None)
    async with build_http_client(settings, timeout=1.0) as client:
        keyless = AV(settings, ProviderHttp("alphavantage", client, clock=clock))
        await raises(ProviderAuthError, keyless.quote("IBM", AssetClass.STOCK))
    assert not route.called


HTTP_DATE = format_datetime(datetime.fromtimestamp(NOW + 120, tz=UTC), usegmt=True)


@pytest.mark.parametrize(("header", "expected"), [("30", 30.0), (HTTP_DATE, 120.0)])
async def test_http_429_retry_after_seconds_or_date(
    provider: AV, av: respx.Router, header: str, expected: float
) -> None:
    # Alpha Vantage itself never answers 429, but a proxy or CDN in front of it may.
    av.get("/query").respond(429, text="Too Many Requests", headers={"Retry-After": header})
    err = await raises(RateLimitedError, provider.quote("IBM", AssetClass.STOCK))
    assert err.retry_after == pytest.approx(expected)


async def test_5xx_and_timeout_are_unavailable(provider: AV, av: respx.Router) -> None:
    route = av.get("/query")
    route.respond(502, html="<html><body>502 Bad Gateway</body></html>")
    await raises(ProviderUnavailableError, provider.quote("IBM", AssetClass.STOCK))
    route.side_effect = httpx.ReadTimeout("timed out")
    await raises(ProviderUnavailableError, provider.quote("IBM", AssetClass.STOCK))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, html="<html>maintenance</html>"),
        httpx.Response(200, json={"Global Quote": []}),
        httpx.Response(200, json=BAD_PRICE),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"Time Series (Daily)": {"2024-11-01": bar("x", "1")}}),
    ],
)
async def test_non_json_and_schema_mismatch_are_bad_data(
    provider: AV, av: respx.Router, response: httpx.Response
) -> None:
    av.get("/query").mock(return_value=response)
    if "Time Series" in response.text:
        now = datetime.now(UTC)
        call = provider.history("IBM", AssetClass.STOCK, Interval.DAY, now - timedelta(9), now)
        await raises(BadDataError, call)
    else:
        await raises(BadDataError, provider.quote("IBM", AssetClass.STOCK))
