"""FinnhubProvider against respx on Finnhub's real shapes (shared/reference/providers.md §4):
the request (path, params, header auth, no key in the URL) and the parse, every error quirk."""

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
from marketsvc.providers.finnhub import MAX_BARS, SYMBOL_LIST_TTL, FinnhubProvider
from marketsvc.providers.registry import build_http_client
from tests.fakes import FakeClock

BASE = "https://finnhub.io/api/v1"
KEY = "fh-SENTINEL-key-8731"
NOW = 1_717_243_200.0  # 2024-06-01T12:00:00Z
QUOTE = {"c": 261.74, "d": 2.29, "dp": 0.8826, "h": 263.31, "l": 260.68, "o": 261.07, "pc": 259.45}
QUOTE_T = {**QUOTE, "t": 1582641000}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


async def _provider(clock: FakeClock, key: str | None = KEY) -> AsyncIterator[FinnhubProvider]:
    settings = ProviderSettings(
        name="finnhub",
        api_key=SecretStr(key) if key else None,
        base_url=BASE,
        enabled=True,
        rate_limits=(),
        ws_url=None,
    )
    async with build_http_client(settings, timeout=2.0) as client:
        yield FinnhubProvider(settings, ProviderHttp("finnhub", client, clock=clock), clock=clock)


@pytest.fixture
async def fh(clock: FakeClock) -> AsyncIterator[FinnhubProvider]:
    async for provider in _provider(clock):
        yield provider


@pytest.fixture
async def keyless(clock: FakeClock) -> AsyncIterator[FinnhubProvider]:
    async for provider in _provider(clock, key=None):
        yield provider


def sent(route: respx.Route) -> httpx.Request:
    """The last request on ``route``: the key rides in the header, never in the URL."""
    request: httpx.Request = route.calls.last.request
    assert request.headers["X-Finnhub-Token"] == KEY
    assert KEY not in str(request.url)
    return request


async def fails(kind: type[ProviderError], call: Awaitable[Any]) -> ProviderError:
    with pytest.raises(kind) as info:
        await call
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.args)
    assert "finnhub.io" not in str(info.value)
    return info.value


# Quotes and symbol mapping -----------------------------------------------------------------
async def test_stock_quote_request_and_parse(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    route = mock.get("/quote").respond(json=QUOTE_T)
    q = await fh.quote("aapl", AssetClass.STOCK)
    assert dict(sent(route).url.params) == {"symbol": "AAPL"}
    assert (q.symbol, q.price, q.change, q.change_percent) == ("AAPL", 261.74, 2.29, 0.8826)
    assert (q.open, q.high, q.low, q.previous_close) == (261.07, 263.31, 260.68, 259.45)
    assert q.timestamp == datetime.fromtimestamp(1582641000, tz=UTC)
    assert (q.source, q.currency, q.asset_class) == ("finnhub", "USD", AssetClass.STOCK)


async def test_quote_without_time_uses_the_clock(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    mock.get("/quote").respond(json={**QUOTE, "t": 0})
    q = await fh.quote("AAPL", AssetClass.STOCK)
    assert q.timestamp == datetime.fromtimestamp(NOW, tz=UTC)


@pytest.mark.parametrize(
    ("symbol", "vendor"),
    [
        ("BTC", "BINANCE:BTCUSDT"),
        ("eth", "BINANCE:ETHUSDT"),
        ("BTC-USD", "BINANCE:BTCUSDT"),
        ("SOL/USDT", "BINANCE:SOLUSDT"),
        ("USDT", "COINBASE:USDT-USD"),
        ("KRAKEN:XBTUSD", "KRAKEN:XBTUSD"),
    ],
)
async def test_crypto_symbols_map_by_table_without_lookup(
    fh: FinnhubProvider, mock: respx.MockRouter, symbol: str, vendor: str
) -> None:
    quote = mock.get("/quote").respond(json=QUOTE_T)
    lookup = mock.get("/crypto/symbol").respond(json=[])
    q = await fh.quote(symbol, AssetClass.CRYPTO)
    assert sent(quote).url.params["symbol"] == vendor
    assert not lookup.called
    assert (q.currency, q.asset_class) == ("USD", AssetClass.CRYPTO)


SYMBOL_LIST = [
    {"description": "Binance PEPEBTC", "displaySymbol": "PEPE/BTC", "symbol": "BINANCE:PEPEBTC"},
    {"description": "Binance PEPEUSDT", "displaySymbol": "PEPE/USDT", "symbol": "BINANCE:PEPEUSDT"},
    {"description": "Binance WIFUSDT", "displaySymbol": "WIF/USDT", "symbol": "BINANCE:WIFUSDT"},
]


async def test_crypto_lookup_is_cached_and_refreshed_after_a_day(
    fh: FinnhubProvider, mock: respx.MockRouter, clock: FakeClock
) -> None:
    lookup = mock.get("/crypto/symbol").respond(json=SYMBOL_LIST)
    quote = mock.get("/quote").respond(json=QUOTE_T)
    await fh.quote("PEPE", AssetClass.CRYPTO)
    assert dict(sent(lookup).url.params) == {"exchange": "binance"}
    assert quote.calls.last.request.url.params["symbol"] == "BINANCE:PEPEUSDT"
    await fh.quote("PEPE", AssetClass.CRYPTO)
    await fh.quote("WIF", AssetClass.CRYPTO)
    assert lookup.call_count == 1  # second and third lookups come from the cache
    assert quote.calls.last.request.url.params["symbol"] == "BINANCE:WIFUSDT"
    clock.now += SYMBOL_LIST_TTL + 1
    await fh.quote("PEPE", AssetClass.CRYPTO)
    assert lookup.call_count == 2


async def test_crypto_missing_from_the_list_is_not_found(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    mock.get("/crypto/symbol").respond(json=SYMBOL_LIST)
    quote = mock.get("/quote").respond(json=QUOTE_T)
    await fails(SymbolNotFoundError, fh.quote("NOPE", AssetClass.CRYPTO))
    assert not quote.called


async def test_all_zero_quote_is_symbol_not_found(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    mock.get("/quote").respond(
        json={"c": 0, "d": None, "dp": None, "h": 0, "l": 0, "o": 0, "pc": 0, "t": 0}
    )
    err = await fails(SymbolNotFoundError, fh.quote("ZZZZ", AssetClass.STOCK))
    assert isinstance(err, SymbolNotFoundError) and err.symbol == "ZZZZ"


async def test_health_is_one_stock_quote(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    route = mock.get("/quote").respond(json=QUOTE_T)
    await fh.health()
    assert route.call_count == 1 and sent(route).url.params["symbol"] == "AAPL"


# Throttling and errors ---------------------------------------------------------------------
LIMIT = {"error": "API limit reached. Please try again later. Remaining Limit: 0"}


async def test_429_with_retry_after_seconds(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    mock.get("/quote").respond(429, json=LIMIT, headers={"Retry-After": "7"})
    err = await fails(RateLimitedError, fh.quote("AAPL", AssetClass.STOCK))
    assert isinstance(err, RateLimitedError) and err.retry_after == 7.0


async def test_429_with_http_date_retry_after(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 30, tz=UTC), usegmt=True)
    mock.get("/quote").respond(429, json=LIMIT, headers={"Retry-After": when})
    err = await fails(RateLimitedError, fh.quote("AAPL", AssetClass.STOCK))
    assert isinstance(err, RateLimitedError) and err.retry_after == pytest.approx(30.0)


async def test_429_with_ratelimit_reset_header(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    mock.get("/quote").respond(429, json=LIMIT, headers={"X-Ratelimit-Reset": str(int(NOW) + 12)})
    err = await fails(RateLimitedError, fh.quote("AAPL", AssetClass.STOCK))
    assert isinstance(err, RateLimitedError) and err.retry_after == pytest.approx(12.0)


@pytest.mark.parametrize("status", [429, 200])
async def test_plain_text_limit_answer_is_rate_limited(
    fh: FinnhubProvider, mock: respx.MockRouter, status: int
) -> None:
    mock.get("/quote").respond(status, text="API limit reached. Please try again later.")
    err = await fails(RateLimitedError, fh.quote("AAPL", AssetClass.STOCK))
    assert isinstance(err, RateLimitedError) and err.retry_after is None


async def test_missing_key_sends_no_token_and_sign_up_answer_is_auth(
    keyless: FinnhubProvider, mock: respx.MockRouter
) -> None:
    route = mock.get("/quote").respond(
        429,
        json={
            "error": "API limit reached. Please sign up for a free account to continue "
            "using the API."
        },
    )
    await fails(ProviderAuthError, keyless.quote("AAPL", AssetClass.STOCK))
    request = route.calls.last.request
    assert "x-finnhub-token" not in request.headers and "token" not in request.url.params


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {"error": "You don't have access to this resource."}),
        (401, {"error": "You don't have access to this resource."}),
        (403, {"error": "403"}),
        (401, {"error": "Invalid API key."}),
    ],
)
async def test_plan_and_key_errors_are_auth(
    fh: FinnhubProvider, mock: respx.MockRouter, status: int, body: dict[str, str]
) -> None:
    mock.get("/stock/candle").respond(status, json=body)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await fails(
        ProviderAuthError,
        fh.history("AAPL", AssetClass.STOCK, Interval.DAY, start, start + timedelta(days=5)),
    )


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_unavailable(fh: FinnhubProvider, mock: respx.MockRouter, status: int) -> None:
    mock.get("/quote").respond(status, html="<html><h1>Bad Gateway</h1></html>")
    await fails(ProviderUnavailableError, fh.quote("AAPL", AssetClass.STOCK))


async def test_timeout_is_unavailable(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    mock.get("/quote").mock(side_effect=httpx.ReadTimeout("slow"))
    await fails(ProviderUnavailableError, fh.quote("AAPL", AssetClass.STOCK))


async def test_non_json_200_is_bad_data(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    mock.get("/quote").respond(200, html="<html>maintenance</html>")
    await fails(BadDataError, fh.quote("AAPL", AssetClass.STOCK))


@pytest.mark.parametrize(
    "body",
    [
        {"d": 1.0, "dp": 0.5},
        {"c": "abc"},
        [QUOTE],
        {"error": "Something unexpected"},
    ],
)
async def test_quote_schema_mismatch_is_bad_data(
    fh: FinnhubProvider, mock: respx.MockRouter, body: Any
) -> None:
    mock.get("/quote").respond(json=body)
    await fails(BadDataError, fh.quote("AAPL", AssetClass.STOCK))


# History -----------------------------------------------------------------------------------
def candles(ts: list[int], base: float = 100.0) -> dict[str, Any]:
    return {
        "c": [base + i + 0.5 for i in range(len(ts))],
        "h": [base + i + 1 for i in range(len(ts))],
        "l": [base + i - 1 for i in range(len(ts))],
        "o": [base + i for i in range(len(ts))],
        "s": "ok",
        "t": ts,
        "v": [1000 * (i + 1) for i in range(len(ts))],
    }


async def test_stock_daily_history_request_and_parse(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=3)
    day = 86400
    s = int(start.timestamp())
    # Out of order, plus one bar at `end` (exclusive) that must be dropped.
    route = mock.get("/stock/candle").respond(json=candles([s + day, s, s + 2 * day, s + 3 * day]))
    bars = await fh.history("AAPL", AssetClass.STOCK, Interval.DAY, start, end)
    params = dict(sent(route).url.params)
    assert params == {
        "symbol": "AAPL",
        "resolution": "D",
        "from": str(s),
        "to": str(s + 3 * day - 1),
    }
    assert [b.ts for b in bars] == [start + timedelta(days=i) for i in range(3)]
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == (
        101.0,
        102.0,
        100.0,
        101.5,
        2000.0,
    )


async def test_crypto_minute_history_maps_symbol_and_caps_the_window(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    s = int(start.timestamp())
    route = mock.get("/crypto/candle").respond(json=candles([s, s + 60]))
    bars = await fh.history(
        "BTC", AssetClass.CRYPTO, Interval.MINUTE, start, start + timedelta(days=30)
    )
    params = sent(route).url.params
    assert (params["symbol"], params["resolution"]) == ("BINANCE:BTCUSDT", "1")
    assert int(params["to"]) == s + MAX_BARS * 60 - 1  # at most MAX_BARS bars per call
    assert len(bars) == 2 and bars[1].ts == start + timedelta(minutes=1)


@pytest.mark.parametrize(("interval", "resolution"), [(Interval.HOUR, "60"), (Interval.WEEK, "W")])
async def test_history_resolutions(
    fh: FinnhubProvider, mock: respx.MockRouter, interval: Interval, resolution: str
) -> None:
    route = mock.get("/stock/candle").respond(json={"s": "no_data"})
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert (
        await fh.history("AAPL", AssetClass.STOCK, interval, start, start + timedelta(days=60))
        == []
    )
    assert sent(route).url.params["resolution"] == resolution


async def test_empty_window_makes_no_call(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    route = mock.get("/stock/candle").respond(json=candles([1]))
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert await fh.history("AAPL", AssetClass.STOCK, Interval.DAY, start, start) == []
    assert not route.called


@pytest.mark.parametrize(
    "body",
    [
        {"s": "error"},
        {"c": [1.0], "h": [1.0], "l": [1.0], "o": [1.0], "s": "ok", "t": [1, 2], "v": [1]},
        {"s": "ok", "t": [1], "c": [1.0]},
        {"c": [1.0], "h": [1.0], "l": [1.0], "o": ["x"], "s": "ok", "t": [1704067200], "v": [1]},
    ],
)
async def test_candle_schema_mismatch_is_bad_data(
    fh: FinnhubProvider, mock: respx.MockRouter, body: dict[str, Any]
) -> None:
    mock.get("/stock/candle").respond(json=body)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await fails(
        BadDataError,
        fh.history("AAPL", AssetClass.STOCK, Interval.DAY, start, start + timedelta(days=2)),
    )


# News --------------------------------------------------------------------------------------
def item(ts: int, headline: str, related: str = "", summary: str = "") -> dict[str, Any]:
    return {
        "category": "company" if related else "crypto",
        "datetime": ts,
        "headline": headline,
        "id": ts,
        "image": "https://img.example/x.jpg" if related else "",
        "related": related,
        "source": "The Economic Times",
        "summary": summary or f"About {headline}",
        "url": f"https://news.example/{ts}",
    }


async def test_company_news_request_and_parse(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    t = int(NOW)
    route = mock.get("/company-news").respond(
        json=[
            item(t - 7200, "Older", "AAPL"),
            item(t - 60, "Newest", "AAPL,MSFT"),
            item(t - 3600, "Mid", "AAPL"),
        ]
    )
    arts = await fh.news(query=None, symbol="AAPL", limit=2)
    assert dict(sent(route).url.params) == {
        "symbol": "AAPL",
        "from": "2024-05-25",
        "to": "2024-06-01",
    }
    assert [a.title for a in arts] == ["Newest", "Mid"]
    a = arts[0]
    assert (a.url, a.provider, a.source_name) == (
        f"https://news.example/{t - 60}",
        "finnhub",
        "The Economic Times",
    )
    assert a.published_at == datetime.fromtimestamp(t - 60, tz=UTC)
    assert (a.tickers, a.image_url, a.summary) == (
        ("AAPL", "MSFT"),
        "https://img.example/x.jpg",
        "About Newest",
    )


@pytest.mark.parametrize(("symbol", "query"), [("BTC", None), (None, "bitcoin"), ("BTC-USD", None)])
async def test_crypto_news_is_the_crypto_feed_filtered_to_the_coin(
    fh: FinnhubProvider, mock: respx.MockRouter, symbol: str | None, query: str | None
) -> None:
    t = int(NOW)
    route = mock.get("/news").respond(
        json=[
            item(t - 10, "ETH rallies"),
            item(t - 20, "Bitcoin ETF inflows"),
            item(t - 30, "Ethereum upgrade", summary="nothing on the other coin"),
            item(t - 40, "Weekly wrap", summary="BTC and SOL"),
            item(t - 50, "WBTC bridge", summary="wrapped only"),
        ]
    )
    arts = await fh.news(query=query, symbol=symbol, limit=10)
    assert dict(sent(route).url.params) == {"category": "crypto"}
    assert [a.title for a in arts] == ["Bitcoin ETF inflows", "Weekly wrap"]


@pytest.mark.parametrize(
    ("query", "category"), [(None, "general"), ("forex", "forex"), ("Merger", "merger")]
)
async def test_market_news_categories(
    fh: FinnhubProvider, mock: respx.MockRouter, query: str | None, category: str
) -> None:
    route = mock.get("/news").respond(json=[item(int(NOW), "Headline")])
    arts = await fh.news(query=query, symbol=None, limit=5)
    assert dict(sent(route).url.params) == {"category": category}
    assert [a.title for a in arts] == ["Headline"]


async def test_free_text_news_is_unsupported_without_a_call(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    route = mock.get("/news").respond(json=[])
    await fails(UnsupportedError, fh.news(query="interest rates", symbol=None, limit=5))
    assert not route.called


async def test_news_schema_mismatch_is_bad_data(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    mock.get("/company-news").respond(json={"news": []})
    await fails(BadDataError, fh.news(query=None, symbol="AAPL", limit=5))


# Fundamentals and search -------------------------------------------------------------------
PROFILE = {
    "country": "US",
    "currency": "USD",
    "estimateCurrency": "USD",
    "exchange": "NASDAQ NMS - GLOBAL MARKET",
    "finnhubIndustry": "Technology",
    "ipo": "1980-12-12",
    "logo": "https://static2.finnhub.io/file/publicdatany/finnhubimage/stock_logo/AAPL.png",
    "marketCapitalization": 3287742.607581,
    "name": "Apple Inc",
    "phone": "14089961010",
    "shareOutstanding": 15334.08,
    "ticker": "AAPL",
    "weburl": "https://www.apple.com/",
}
METRIC = {
    "metric": {
        "52WeekHigh": 237.23,
        "52WeekLow": 164.08,
        "beta": 1.24,
        "dividendYieldIndicatedAnnual": 0.44,
        "epsBasicExclExtraItemsTTM": 6.57,
        "peBasicExclExtraTTM": 34.1,
    },
    "metricType": "all",
    "series": {},
    "symbol": "AAPL",
}


async def test_fundamentals_profile_and_metrics(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    profile = mock.get("/stock/profile2").respond(json=PROFILE)
    metric = mock.get("/stock/metric").respond(json=METRIC)
    f = await fh.fundamentals("aapl")
    assert dict(sent(profile).url.params) == {"symbol": "AAPL"}
    assert dict(sent(metric).url.params) == {"symbol": "AAPL", "metric": "all"}
    assert (f.symbol, f.source, f.name, f.sector, f.country) == (
        "AAPL",
        "finnhub",
        "Apple Inc",
        "Technology",
        "US",
    )
    assert f.market_cap == pytest.approx(3287742.607581e6)
    assert f.shares_outstanding == pytest.approx(15334.08e6)
    assert (f.pe_ratio, f.eps, f.beta, f.week52_high, f.week52_low) == (
        34.1,
        6.57,
        1.24,
        237.23,
        164.08,
    )
    assert f.dividend_yield == pytest.approx(0.0044)
    assert f.website == "https://www.apple.com/" and f.extra["ipo"] == "1980-12-12"
    assert fh.weight("fundamentals") == 2


async def test_fundamentals_empty_profile_is_not_found(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    mock.get("/stock/profile2").respond(json={})
    metric = mock.get("/stock/metric").respond(json=METRIC)
    await fails(SymbolNotFoundError, fh.fundamentals("ZZZZ"))
    assert not metric.called


async def test_fundamentals_without_metric_access_keeps_the_profile(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    mock.get("/stock/profile2").respond(json=PROFILE)
    mock.get("/stock/metric").respond(
        403, json={"error": "You don't have access to this resource."}
    )
    f = await fh.fundamentals("AAPL")
    assert f.name == "Apple Inc" and f.pe_ratio is None and f.week52_high is None


async def test_search_request_and_parse(fh: FinnhubProvider, mock: respx.MockRouter) -> None:
    route = mock.get("/search").respond(
        json={
            "count": 2,
            "result": [
                {
                    "description": "APPLE INC",
                    "displaySymbol": "AAPL",
                    "symbol": "AAPL",
                    "type": "Common Stock",
                },
                {
                    "description": "APPLE INC",
                    "displaySymbol": "AAPL.SW",
                    "symbol": "AAPL.SW",
                    "type": "Common Stock",
                },
            ],
        }
    )
    matches = await fh.search("apple")
    assert dict(sent(route).url.params) == {"q": "apple"}
    assert [(m.symbol, m.provider_symbol, m.name) for m in matches] == [
        ("AAPL", "AAPL", "APPLE INC"),
        ("AAPL.SW", "AAPL.SW", "APPLE INC"),
    ]
    assert {m.asset_class for m in matches} == {AssetClass.STOCK}


async def test_search_schema_mismatch_is_bad_data(
    fh: FinnhubProvider, mock: respx.MockRouter
) -> None:
    mock.get("/search").respond(json={"count": 0})
    await fails(BadDataError, fh.search("apple"))


def test_declared_capabilities() -> None:
    info = FinnhubProvider.info
    assert info.max_batch == 1
    assert Capability.BATCH_QUOTE not in info.capabilities
    assert set(info.history_intervals) == set(Interval)
    assert {AssetClass.STOCK, AssetClass.CRYPTO} == set(info.asset_classes)
