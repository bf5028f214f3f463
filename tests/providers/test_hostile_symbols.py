"""Hostile symbols straight into every adapter (respx on each provider's real base URL): a
symbol lands in an upstream URL path as exactly one percent-encoded segment, or the request is
refused before it is sent. Adapters get these symbols only if the service's own check
(symbols.resolve) is bypassed; this is the second line of defence.

httpx resolves ``.``/``..`` segments before sending (``chart/..`` went out as ``/v8/finance``),
so the assertions are on the paths the mock received."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import respx
from pydantic import SecretStr

from marketsvc.config import DEFAULT_BASE_URLS, ProviderSettings
from marketsvc.domain import AssetClass, Interval
from marketsvc.errors import InvalidInputError, MarketsvcError, UnsafeRequestError
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.base import Provider
from marketsvc.providers.registry import ADAPTER_CLASSES, build_http_client, build_provider

KEY = "hostile-test-key-5c1e"
FULLWIDTH_DOTS = "\uff0e\uff0e"  # "．．": NFKC folds it to ".."
GREEK_ALPHA_AAPL = "\u0391APL"  # "ΑAPL": a Greek capital alpha, not a Latin A
MAX_LEN = "A" * 32

HOSTILE = [
    "..",
    ".",
    "AAPL/../../X",
    "%2e%2e",
    "A/B/C",
    "X?y=1",
    "X#frag",
    GREEK_ALPHA_AAPL,
    FULLWIDTH_DOTS,
    MAX_LEN,
]
REFUSED = None  # the adapter raised before sending anything to that endpoint

# The segment each adapter puts in its path for each symbol (REFUSED: no request there).
# Yahoo upper-cases; Tiingo lower-cases; Polygon and Tiingo resolve the symbol first (the
# service's own check), which rejects everything here but the 32-character ticker; CoinGecko
# takes ids from /coins/list, which the mock fills with the hostile strings themselves.
SEGMENTS: dict[str, dict[str, str | None]] = {
    "..": {"yahoo": REFUSED, "polygon": REFUSED, "tiingo": REFUSED, "coingecko": REFUSED},
    ".": {"yahoo": REFUSED, "polygon": REFUSED, "tiingo": REFUSED, "coingecko": REFUSED},
    "AAPL/../../X": {
        "yahoo": REFUSED,  # one segment AAPL%2F..%2F..%2FX: a decoding proxy would see ".."
        "polygon": REFUSED,
        "tiingo": REFUSED,
        "coingecko": REFUSED,
    },
    "%2e%2e": {
        "yahoo": "%252E%252E",
        "polygon": REFUSED,
        "tiingo": REFUSED,
        "coingecko": "%252e%252e",
    },
    "A/B/C": {
        "yahoo": "A%2FB%2FC",
        "polygon": REFUSED,
        "tiingo": REFUSED,
        "coingecko": "A%2FB%2FC",
    },
    "X?y=1": {
        "yahoo": "X%3FY%3D1",
        "polygon": REFUSED,
        "tiingo": REFUSED,
        "coingecko": "X%3Fy%3D1",
    },
    "X#frag": {"yahoo": "X%23FRAG", "polygon": REFUSED, "tiingo": REFUSED, "coingecko": "X%23frag"},
    GREEK_ALPHA_AAPL: {
        "yahoo": "%CE%91APL",
        "polygon": REFUSED,
        "tiingo": REFUSED,
        "coingecko": "%CE%91APL",
    },
    FULLWIDTH_DOTS: {"yahoo": REFUSED, "polygon": REFUSED, "tiingo": REFUSED, "coingecko": REFUSED},
    MAX_LEN: {
        "yahoo": MAX_LEN,
        "polygon": MAX_LEN,
        "tiingo": MAX_LEN.lower(),
        "coingecko": MAX_LEN,
    },
}

# Every path-building site: (adapter, operation, path template around the segment).
PATH_SITES = [
    ("yahoo", "quote_stock", "/v8/finance/chart/{}"),
    ("yahoo", "history_stock", "/v8/finance/chart/{}"),
    ("yahoo", "fundamentals", "/v10/finance/quoteSummary/{}"),
    ("polygon", "quote_stock", "/v2/aggs/ticker/{}/prev"),
    ("polygon", "history_stock", "/v2/aggs/ticker/{}/range/1/day/{start_ms}/{end_ms_incl}"),
    ("polygon", "fundamentals", "/v3/reference/tickers/{}"),
    ("tiingo", "history_stock", "/tiingo/daily/{}/prices"),
    ("tiingo", "history_stock_hourly", "/iex/{}/prices"),
    ("tiingo", "fundamentals", "/tiingo/daily/{}"),
    ("coingecko", "history_crypto", "/api/v3/coins/{}/market_chart/range"),
    ("coingecko", "fundamentals", "/api/v3/coins/{}"),
]

# Fixed lookups that share a prefix with a path site (CoinGecko's id list).
LOOKUPS = {"/api/v3/coins/list"}

# Adapters that carry symbols in query strings only: every path they may request.
QUERY_ONLY_PATHS = {
    "binance": {"/api/v3/exchangeInfo", "/api/v3/ticker/24hr", "/api/v3/klines"},
    "coinmarketcap": {
        "/v1/cryptocurrency/map",
        "/v2/cryptocurrency/quotes/latest",
        "/v2/cryptocurrency/info",
    },
    "finnhub": {
        "/api/v1/quote",
        "/api/v1/stock/candle",
        "/api/v1/crypto/candle",
        "/api/v1/crypto/symbol",
        "/api/v1/stock/profile2",
        "/api/v1/stock/metric",
        "/api/v1/company-news",
        "/api/v1/news",
    },
    "alphavantage": {"/query"},
    "newsapi": {"/v2/everything"},
}

# Bar-aligned day boundaries inside CoinGecko's keyless 365-day window.
_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START, END = _TODAY - timedelta(days=10), _TODAY - timedelta(days=5)


def _upstream(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/getcrumb"):
        return httpx.Response(200, text="crumb0")
    if path.endswith("/coins/list"):
        coins = [{"id": s, "symbol": s, "name": "hostile"} for s in HOSTILE]
        return httpx.Response(200, json=coins)
    return httpx.Response(404, json={})


def _operations(p: Provider, symbol: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    stock, crypto = AssetClass.STOCK, AssetClass.CRYPTO
    return {
        "quote_stock": lambda: p.quote(symbol, stock),
        "quote_crypto": lambda: p.quote(symbol, crypto),
        "history_stock": lambda: p.history(symbol, stock, Interval.DAY, START, END),
        "history_stock_hourly": lambda: p.history(symbol, stock, Interval.HOUR, START, END),
        "history_crypto": lambda: p.history(symbol, crypto, Interval.DAY, START, END),
        "fundamentals": lambda: p.fundamentals(symbol),
        "news": lambda: p.news(query=None, symbol=symbol, limit=5),
    }


class Recorder:
    """One adapter on respx; ``run`` returns the raw paths one operation requested."""

    def __init__(self, name: str, mock: respx.MockRouter, provider: Provider) -> None:
        self.name, self.mock, self.provider = name, mock, provider
        self.base_path = httpx.URL(DEFAULT_BASE_URLS[name]).path.rstrip("/")

    async def run(self, operation: str, symbol: str) -> tuple[list[str], MarketsvcError | None]:
        before = len(self.mock.calls)
        error: MarketsvcError | None = None
        try:
            await _operations(self.provider, symbol)[operation]()
        except MarketsvcError as exc:
            error = exc
        paths = [c.request.url.raw_path.decode().split("?")[0] for c in self.mock.calls[before:]]
        return paths, error


@pytest.fixture
def recorder(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    name: str = request.param
    settings = ProviderSettings(
        name=name,
        api_key=SecretStr(KEY),
        base_url=DEFAULT_BASE_URLS[name],
        enabled=True,
        rate_limits=(),
        ws_url=None,
    )
    # No base_url on the mock: a request that escaped to another host is recorded too.
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(side_effect=_upstream)
        client = build_http_client(settings, timeout=1.0)
        yield Recorder(name, mock, build_provider(settings, ProviderHttp(name, client)))


def _expand(template: str, segment: str) -> str:
    ms = int(START.timestamp() * 1000)
    end_incl = int(END.timestamp() * 1000) - 1
    return (
        template.replace("{start_ms}", str(ms))
        .replace("{end_ms_incl}", str(end_incl))
        .replace("{}", segment)
    )


def _assert_safe(recorder: Recorder, paths: list[str]) -> None:
    for path in paths:
        if recorder.name == "yahoo" and path == "/":
            continue  # Yahoo's cookie priming at https://fc.yahoo.com/ (a fixed URL)
        assert path.startswith(recorder.base_path + "/"), path
        segments = [unquote(s) for s in path.split("/")[1:]]
        assert not {".", ".."} & set(segments), path


@pytest.mark.parametrize("symbol", HOSTILE)
@pytest.mark.parametrize(
    ("recorder", "operation", "template"),
    [pytest.param(a, op, t, id=f"{a}-{op}") for a, op, t in PATH_SITES],
    indirect=["recorder"],
)
async def test_symbol_in_a_path_is_one_encoded_segment_or_refused(
    recorder: Recorder, operation: str, template: str, symbol: str
) -> None:
    paths, error = await recorder.run(operation, symbol)
    _assert_safe(recorder, paths)
    segment = SEGMENTS[symbol][recorder.name]
    prefix = template.split("{}")[0]
    at_site = [p for p in paths if p.startswith(prefix) and p not in LOOKUPS]
    if segment is REFUSED:
        assert at_site == [], paths
        assert isinstance(error, UnsafeRequestError | InvalidInputError), error
        assert KEY not in str(error)
    else:
        assert at_site == [_expand(template, segment)]


@pytest.mark.parametrize("symbol", HOSTILE)
@pytest.mark.parametrize("recorder", sorted(QUERY_ONLY_PATHS), indirect=True)
async def test_query_only_adapters_keep_symbols_out_of_paths(
    recorder: Recorder, symbol: str
) -> None:
    sent: list[str] = []
    for operation in _operations(recorder.provider, symbol):
        paths, _ = await recorder.run(operation, symbol)
        _assert_safe(recorder, paths)
        sent += paths
    assert set(sent) <= QUERY_ONLY_PATHS[recorder.name], set(sent)
    # The symbol did reach the provider (as a parameter), so the check above was exercised.
    queries = [unquote(c.request.url.query.decode()) for c in recorder.mock.calls]
    if recorder.name != "binance":  # Binance matches against its exchangeInfo list instead
        assert any(symbol.upper() in q.upper() for q in queries), queries


@pytest.mark.parametrize("recorder", sorted(ADAPTER_CLASSES), indirect=True)
async def test_no_adapter_sends_a_dot_segment_for_any_hostile_symbol(recorder: Recorder) -> None:
    for symbol in HOSTILE:
        for operation in _operations(recorder.provider, symbol):
            paths, error = await recorder.run(operation, symbol)
            _assert_safe(recorder, paths)
            if error is not None:
                assert KEY not in str(error) and KEY not in repr(error)
