"""TiingoProvider against respx on Tiingo's real response shapes (providers.md section 9):
requests (path, params, Token header, never a key in the URL), parses, and every error quirk."""

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
from marketsvc.providers.registry import build_http_client, build_provider
from marketsvc.providers.tiingo import TiingoProvider
from tests.fakes import FakeClock

KEY = "tg-SENTINEL-51c0de"
BASE = "https://api.tiingo.com"
NOW = 1_714_000_000.0

IEX_AAPL = {
    "ticker": "AAPL",
    "timestamp": "2024-05-01T15:59:59.999999-04:00",
    "quoteTimestamp": None,
    "lastSaleTimestamp": None,
    "last": None,
    "lastSize": None,
    "tngoLast": 169.3,
    "prevClose": 170.33,
    "open": 169.58,
    "high": 172.71,
    "low": 169.11,
    "mid": None,
    "volume": 0,
    "bidSize": None,
    "bidPrice": None,
    "askSize": None,
    "askPrice": None,
}
CRYPTO_TOP = [
    {
        "ticker": "btcusd",
        "baseCurrency": "btc",
        "quoteCurrency": "usd",
        "topOfBookData": [
            {
                "bidPrice": 10160.51,
                "quoteTimestamp": "2019-10-03T23:00:15.363000+00:00",
                "askExchange": "GEMINI",
                "lastSize": 0.001338,
                "askSize": 0.1,
                "lastExchange": "BINANCE",
                "lastPrice": 8220.83,
                "bidExchange": "BITSTAMP",
                "bidSize": 2.88067305,
                "askPrice": 8209.92,
                "lastSaleTimestamp": "2019-10-13T20:20:03.712000+00:00",
                "lastSizeNotional": 10.999470539999999,
            }
        ],
    }
]
EOD = [
    {
        "date": "2015-01-02T00:00:00.000Z",
        "close": 529.55,
        "high": 535.8,
        "low": 527.88,
        "open": 532.6,
        "volume": 1327870,
        "adjClose": 529.55,
        "adjHigh": 535.8,
        "adjLow": 527.88,
        "adjOpen": 532.6,
        "adjVolume": 1327870,
        "divCash": 0.0,
        "splitFactor": 1.0,
    }
]
INTRADAY = [
    {
        "date": "2018-01-02T14:30:00.000Z",
        "open": 1057.47,
        "high": 1061.91,
        "low": 1054.17,
        "close": 1061.91,
        "volume": 100,
    },
    {
        "date": "2018-01-02T15:00:00.000Z",
        "open": 1061.91,
        "high": 1067.345,
        "low": 1061.91,
        "close": 1066.945,
        "volume": 200,
    },
]
CRYPTO_PRICES = [
    {
        "ticker": "btcusd",
        "baseCurrency": "btc",
        "quoteCurrency": "usd",
        "priceData": [
            {
                "volume": 27749.729226739997,
                "date": "2019-05-01T00:00:00+00:00",
                "volumeNotional": 150406020.75066727,
                "close": 5420.0896708474575,
                "open": 5367.348827845256,
                "low": 5358.100876910302,
                "tradesDone": 214889,
                "high": 5443.811868611532,
            },
        ],
    }
]
NEWS = [
    {
        "id": 0,
        "publishedDate": "2016-01-11T23:13:00Z",
        "crawlDate": "2016-01-12T21:07:28.073309+00:00",
        "title": "Tech giants may be stronger than you think",
        "url": "http://www.cnbc.com/2016/01/11/tech-giants-may-be-stronger-than-you-think.html",
        "description": "A story.",
        "source": "cnbc.com",
        "tickers": ["googl", "aapl", "brk-b"],
        "tags": ["Technology", "Investing"],
    },
    {"id": 1, "title": "no date", "url": "http://x.example/1"},
]
META = {
    "ticker": "GOOGL",
    "name": 'Alphabet Inc.("Google") - Class A',
    "exchangeCode": "NASDAQ",
    "startDate": "2004-08-19",
    "endDate": "2017-10-06",
    "description": "Google Inc. (Google) is a global technology company.",
}
HOURLY = (
    "You have run over your hourly request allocation. Please upgrade at "
    "https://api.tiingo.com/pricing to have your limits increased."
)
MONTHLY = (
    "You have run over your 500 symbol look up for this month. Please upgrade at "
    "https://api.tiingo.com/pricing to have your limits increased."
)


def settings(key: str | None = KEY) -> ProviderSettings:
    return ProviderSettings(
        name="tiingo",
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
async def provider(clock: FakeClock) -> AsyncIterator[TiingoProvider]:
    client = build_http_client(settings(), timeout=0.5)
    http = ProviderHttp("tiingo", client, clock=lambda: NOW)
    try:
        yield TiingoProvider(settings(), http, monotonic=clock)
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
    assert request.headers["authorization"] == f"Token {KEY}"
    assert KEY not in str(request.url)
    assert "token" not in request.url.params
    return request


# --- declaration and registry ----------------------------------------------------------------
async def test_registry_builds_tiingo_with_declared_capabilities() -> None:
    async with build_http_client(settings(), timeout=1.0) as client:
        built = build_provider(settings(), ProviderHttp("tiingo", client))
    assert isinstance(built, TiingoProvider)
    assert built.info.max_batch > 1
    assert built.info.capabilities == frozenset(Capability)
    assert built.info.history_intervals == frozenset(Interval)


# --- quotes ----------------------------------------------------------------------------------
async def test_stock_quote_falls_back_to_tngo_last_when_last_is_null(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/iex").respond(json=[IEX_AAPL])
    q = await provider.quote("AAPL", AssetClass.STOCK)
    assert sent(route).url.params["tickers"] == "aapl"
    assert (q.symbol, q.price, q.previous_close, q.open) == ("AAPL", 169.3, 170.33, 169.58)
    assert q.change == pytest.approx(169.3 - 170.33)
    assert q.change_percent == pytest.approx((169.3 - 170.33) / 170.33 * 100)
    assert q.timestamp == datetime(2024, 5, 1, 19, 59, 59, 999999, tzinfo=UTC)
    assert (q.source, q.currency, q.asset_class) == ("tiingo", "USD", AssetClass.STOCK)


async def test_stock_quote_prefers_the_iex_last_sale(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    router.get("/iex").respond(json=[{**IEX_AAPL, "last": 169.29}])
    assert (await provider.quote("AAPL", AssetClass.STOCK)).price == 169.29


async def test_batch_stock_quotes_hyphenate_share_classes_and_flag_missing(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    brk = {**IEX_AAPL, "ticker": "BRK-B", "tngoLast": 410.5}
    route = router.get("/iex").respond(json=[IEX_AAPL, brk])
    out = await provider.quotes(["AAPL", "BRK.B", "ZZZZ"], AssetClass.STOCK)
    assert sent(route).url.params["tickers"] == "aapl,brk-b,zzzz"
    assert route.call_count == 1
    assert getattr(out["BRK.B"], "price", None) == 410.5
    assert getattr(out["AAPL"], "price", None) == 169.3
    assert isinstance(out["ZZZZ"], SymbolNotFoundError)


async def test_crypto_quote_uses_top_of_book(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/tiingo/crypto/top").respond(json=CRYPTO_TOP)
    q = await provider.quote("BTC", AssetClass.CRYPTO)
    assert sent(route).url.params["tickers"] == "btcusd"
    assert q.price == 8220.83 and q.currency == "USD" and q.asset_class is AssetClass.CRYPTO
    assert q.timestamp == datetime(2019, 10, 13, 20, 20, 3, 712000, tzinfo=UTC)


async def test_batch_crypto_quotes_in_one_call(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/tiingo/crypto/top").respond(json=CRYPTO_TOP)
    out = await provider.quotes(["BTC", "ETH"], AssetClass.CRYPTO)
    assert sent(route).url.params["tickers"] == "btcusd,ethusd"
    assert getattr(out["BTC"], "price", None) == 8220.83
    assert isinstance(out["ETH"], SymbolNotFoundError)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json=[]),
        httpx.Response(404, json={"detail": "Error: Ticker 'ZZZZ' not found"}),
    ],
    ids=["empty-list", "404-detail"],
)
async def test_unknown_stock_quote_is_symbol_not_found(
    router: respx.MockRouter, provider: TiingoProvider, response: httpx.Response
) -> None:
    router.get("/iex").mock(return_value=response)
    await raised(provider.quote("ZZZZ", AssetClass.STOCK), SymbolNotFoundError)


async def test_top_of_book_without_rows_is_bad_data(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    router.get("/tiingo/crypto/top").respond(json=[{**CRYPTO_TOP[0], "topOfBookData": []}])
    await raised(provider.quote("BTC", AssetClass.CRYPTO), BadDataError)


# --- history ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("interval", "freq"), [(Interval.DAY, "daily"), (Interval.WEEK, "weekly")])
async def test_eod_history_request_and_parse(
    router: respx.MockRouter, provider: TiingoProvider, interval: Interval, freq: str
) -> None:
    route = router.get("/tiingo/daily/aapl/prices").respond(json=EOD)
    start, end = datetime(2015, 1, 1, tzinfo=UTC), datetime(2015, 1, 6, tzinfo=UTC)
    candles = await provider.history("AAPL", AssetClass.STOCK, interval, start, end)
    params = sent(route).url.params
    # Tiingo's endDate is inclusive: [Jan 1, Jan 6) asks up to Jan 5.
    assert (params["startDate"], params["endDate"]) == ("2015-01-01", "2015-01-05")
    assert params["resampleFreq"] == freq
    assert len(candles) == 1
    c = candles[0]
    assert c.ts == datetime(2015, 1, 2, tzinfo=UTC)
    assert (c.open, c.high, c.low, c.close, c.volume) == (532.6, 535.8, 527.88, 529.55, 1327870)


async def test_intraday_stock_history_uses_iex_with_volume_column(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/iex/aapl/prices").respond(json=INTRADAY)
    start = datetime(2018, 1, 2, 14, 45, tzinfo=UTC)
    candles = await provider.history(
        "AAPL", AssetClass.STOCK, Interval.HOUR, start, start + timedelta(hours=2)
    )
    params = sent(route).url.params
    assert params["resampleFreq"] == "1hour" and "volume" in params["columns"].split(",")
    assert params["startDate"] == params["endDate"] == "2018-01-02"
    assert [(c.ts.hour, c.close, c.volume) for c in candles] == [(15, 1066.945, 200)]


async def test_crypto_history_reads_price_data(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/tiingo/crypto/prices").respond(json=CRYPTO_PRICES)
    start = datetime(2019, 5, 1, tzinfo=UTC)
    candles = await provider.history(
        "BTC", AssetClass.CRYPTO, Interval.MINUTE, start, start + timedelta(minutes=5)
    )
    params = sent(route).url.params
    assert (params["tickers"], params["resampleFreq"]) == ("btcusd", "1min")
    assert len(candles) == 1 and candles[0].close == pytest.approx(5420.0896708474575)
    assert candles[0].ts == start and candles[0].volume == pytest.approx(27749.729226739997)


async def test_crypto_weekly_history_is_unsupported_without_a_call(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/tiingo/crypto/prices")
    start = datetime(2019, 5, 1, tzinfo=UTC)
    await raised(
        provider.history(
            "BTC", AssetClass.CRYPTO, Interval.WEEK, start, start + timedelta(days=70)
        ),
        UnsupportedError,
    )
    assert not route.called


async def test_eod_history_of_unknown_ticker_is_symbol_not_found(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    router.get("/tiingo/daily/zzzz/prices").respond(
        404, json={"detail": "Error: Ticker 'ZZZZ' not found"}
    )
    start = datetime(2015, 1, 1, tzinfo=UTC)
    await raised(
        provider.history("ZZZZ", AssetClass.STOCK, Interval.DAY, start, start + timedelta(days=5)),
        SymbolNotFoundError,
    )


# --- news, fundamentals, search, health --------------------------------------------------------
async def test_news_by_ticker_request_and_parse(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/tiingo/news").respond(json=NEWS)
    articles = await provider.news(query=None, symbol="AAPL", limit=5)
    params = sent(route).url.params
    assert dict(params) == {"tickers": "aapl", "limit": "5", "sortBy": "publishedDate"}
    assert len(articles) == 1  # the story without a date is skipped
    a = articles[0]
    assert a.title == "Tech giants may be stronger than you think" and a.provider == "tiingo"
    assert a.published_at == datetime(2016, 1, 11, 23, 13, tzinfo=UTC)
    assert a.source_name == "cnbc.com" and a.summary == "A story."
    assert a.tickers == ("GOOGL", "AAPL", "BRK-B")


async def test_news_by_free_text_is_unsupported_without_a_call(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/tiingo/news")
    await raised(provider.news(query="bitcoin", symbol=None, limit=5), UnsupportedError)
    assert not route.called


async def test_fundamentals_read_ticker_metadata(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/tiingo/daily/googl").respond(json=META)
    f = await provider.fundamentals("GOOGL")
    sent(route)
    assert f.name == 'Alphabet Inc.("Google") - Class A' and f.exchange == "NASDAQ"
    assert f.description is not None and f.description.startswith("Google Inc.")
    assert f.extra["startDate"] == "2004-08-19" and f.source == "tiingo"


async def test_fundamentals_of_unknown_ticker_is_symbol_not_found(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    router.get("/tiingo/daily/zzzz").respond(404, json={"detail": "Not found."})
    await raised(provider.fundamentals("ZZZZ"), SymbolNotFoundError)


async def test_search_maps_asset_types_and_share_classes(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    rows = [
        {"ticker": "AAPL", "name": "Apple Inc", "assetType": "Stock", "isActive": True},
        {"ticker": "BRK-B", "name": "Berkshire B", "assetType": "Stock", "isActive": True},
        {"ticker": "SPY", "name": "SPDR S&P 500", "assetType": "ETF", "isActive": True},
        {"ticker": "btcusd", "name": "Bitcoin", "assetType": "Crypto", "isActive": True},
        {"ticker": "OLD", "name": "Delisted", "assetType": "Stock", "isActive": False},
    ]
    route = router.get("/tiingo/utilities/search").respond(json=rows)
    matches = await provider.search("a")
    assert sent(route).url.params["query"] == "a"
    assert [(m.symbol, m.asset_class, m.provider_symbol) for m in matches] == [
        ("AAPL", AssetClass.STOCK, "AAPL"),
        ("BRK.B", AssetClass.STOCK, "BRK-B"),
        ("SPY", AssetClass.STOCK, "SPY"),
        ("BTC", AssetClass.CRYPTO, "btcusd"),
    ]


async def test_health_calls_the_test_endpoint(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    route = router.get("/api/test").respond(json={"message": "You successfully sent a request"})
    await provider.health()
    sent(route)


# --- symbol mapping ---------------------------------------------------------------------------
async def test_table_coin_needs_no_lookup(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    lookup = router.get("/tiingo/crypto")
    router.get("/tiingo/crypto/top").respond(json=[{**CRYPTO_TOP[0], "ticker": "solusd"}])
    assert (await provider.quote("SOL", AssetClass.CRYPTO)).price == 8220.83
    assert not lookup.called


async def test_other_coin_is_looked_up_once_and_refreshed_after_a_day(
    router: respx.MockRouter, provider: TiingoProvider, clock: FakeClock
) -> None:
    lookup = router.get("/tiingo/crypto").respond(
        json=[{"ticker": "pepeusd", "baseCurrency": "pepe", "quoteCurrency": "usd"}]
    )
    top = router.get("/tiingo/crypto/top").respond(json=[{**CRYPTO_TOP[0], "ticker": "pepeusd"}])
    await provider.quote("PEPE", AssetClass.CRYPTO)
    assert sent(lookup).url.params["tickers"] == "pepeusd"
    await provider.quote("PEPE", AssetClass.CRYPTO)
    assert lookup.call_count == 1 and top.call_count == 2
    clock.advance(25 * 3600)
    await provider.quote("PEPE", AssetClass.CRYPTO)
    assert lookup.call_count == 2


async def test_unknown_coin_is_not_found_and_the_miss_is_cached(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    lookup = router.get("/tiingo/crypto").respond(json=[])
    await raised(provider.quote("NOPE", AssetClass.CRYPTO), SymbolNotFoundError)
    await raised(provider.quote("NOPE", AssetClass.CRYPTO), SymbolNotFoundError)
    assert lookup.call_count == 1


# --- throttling and errors --------------------------------------------------------------------
def _next_month(now: float) -> float:
    return datetime(2024, 5, 1, tzinfo=UTC).timestamp() - now  # NOW is in April 2024


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # The verified quirk: plain text with HTTP 200.
        (httpx.Response(200, text=HOURLY), 3600 - NOW % 3600),
        (httpx.Response(200, text=MONTHLY), _next_month(NOW)),
        (httpx.Response(429, text=HOURLY, headers={"Retry-After": "42"}), 42.0),
        (
            httpx.Response(
                429,
                text=HOURLY,
                headers={
                    "Retry-After": format_datetime(
                        datetime.fromtimestamp(NOW + 90, tz=UTC), usegmt=True
                    )
                },
            ),
            90.0,
        ),
        (
            httpx.Response(
                429, json={"detail": "Request was throttled. Expected available in 37 seconds."}
            ),
            37.0,
        ),
    ],
    ids=["200-hourly-text", "200-monthly-symbols", "429-seconds", "429-http-date", "429-drf"],
)
async def test_quota_answers_are_rate_limited_with_retry_after(
    router: respx.MockRouter, provider: TiingoProvider, response: httpx.Response, expected: float
) -> None:
    router.get("/iex").mock(return_value=response)
    err = await raised(provider.quote("AAPL", AssetClass.STOCK), RateLimitedError)
    assert isinstance(err, RateLimitedError) and err.retry_after == pytest.approx(expected)


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(401, json={"detail": "Invalid token."}), ProviderAuthError),
        (httpx.Response(403, json={"detail": "Not in your plan."}), ProviderAuthError),
        (httpx.Response(500, text="<h1>Server Error (500)</h1>"), ProviderUnavailableError),
        (httpx.Response(503, text="unavailable"), ProviderUnavailableError),
        (httpx.Response(200, text="<html>maintenance</html>"), BadDataError),
        (httpx.Response(200, json={"ticker": "AAPL"}), BadDataError),
        (httpx.Response(200, json={"detail": "Something odd."}), BadDataError),
        (httpx.Response(200, json=[{**IEX_AAPL, "tngoLast": None}]), BadDataError),
        (httpx.Response(200, json=[{**IEX_AAPL, "timestamp": "yesterday"}]), BadDataError),
    ],
    ids=[
        "401",
        "403",
        "500-html",
        "503-text",
        "non-json",
        "object-not-list",
        "detail-in-200",
        "no-price",
        "bad-time",
    ],
)
async def test_error_answers_map_to_typed_errors(
    router: respx.MockRouter,
    provider: TiingoProvider,
    response: httpx.Response,
    kind: type[ProviderError],
) -> None:
    router.get("/iex").mock(return_value=response)
    await raised(provider.quote("AAPL", AssetClass.STOCK), kind)


async def test_schema_mismatch_in_bars_is_bad_data(
    router: respx.MockRouter, provider: TiingoProvider
) -> None:
    router.get("/tiingo/daily/aapl/prices").respond(json=[{"date": "2015-01-02T00:00:00.000Z"}])
    start = datetime(2015, 1, 1, tzinfo=UTC)
    await raised(
        provider.history("AAPL", AssetClass.STOCK, Interval.DAY, start, start + timedelta(days=5)),
        BadDataError,
    )


async def test_timeout_is_unavailable(router: respx.MockRouter, provider: TiingoProvider) -> None:
    router.get("/iex").mock(side_effect=httpx.ConnectTimeout("slow"))
    await raised(provider.quote("AAPL", AssetClass.STOCK), ProviderUnavailableError)


async def test_missing_key_fails_before_any_call(router: respx.MockRouter) -> None:
    route = router.get("/iex").respond(json=[IEX_AAPL])
    async with build_http_client(settings(None), timeout=1.0) as client:
        keyless = TiingoProvider(settings(None), ProviderHttp("tiingo", client))
        await raised(keyless.quote("AAPL", AssetClass.STOCK), ProviderAuthError)
    assert not route.called
