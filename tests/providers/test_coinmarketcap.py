"""CoinMarketCapProvider against respx on CMC's real shapes (shared/reference/providers.md §2):
the request (path, params, header auth, no key in the URL), the parse, the id mapping and its
caches, and ``status.error_code`` on every answer — HTTP 200 included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from marketsvc.config import ProviderSettings
from marketsvc.domain import AssetClass, Capability
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
from marketsvc.providers.coinmarketcap import MISS_TTL, CoinMarketCapProvider
from marketsvc.providers.registry import build_http_client
from tests.fakes import FakeClock

BASE = "https://pro-api.coinmarketcap.com"
QUOTES = f"{BASE}/v2/cryptocurrency/quotes/latest"
MAP = f"{BASE}/v1/cryptocurrency/map"
KEY = "cmc-SENTINEL-key-4410"
NOW = 1_717_243_230.0  # 2024-06-01T12:00:30Z


def status(code: int = 0, message: str | None = None) -> dict[str, Any]:
    return {
        "timestamp": "2024-06-01T12:00:30.000Z",
        "error_code": code,
        "error_message": message,
        "elapsed": 10,
        "credit_count": 0 if code else 1,
        "notice": None,
    }


# CMC's documentation example (providers.md §2.3).
BTC = {
    "id": 1, "name": "Bitcoin", "symbol": "BTC", "slug": "bitcoin", "is_active": 1, "is_fiat": 0,
    "circulating_supply": 17199862, "total_supply": 17199862, "max_supply": 21000000,
    "date_added": "2013-04-28T00:00:00.000Z", "num_market_pairs": 331, "cmc_rank": 1,
    "last_updated": "2018-08-09T21:56:28.000Z", "tags": ["mineable"], "platform": None,
    "quote": {"USD": {
        "price": 6602.60701122, "volume_24h": 4314444687.5194, "volume_change_24h": -0.152774,
        "percent_change_1h": 0.988615, "percent_change_24h": 4.37185,
        "percent_change_7d": -12.1352, "market_cap": 852164659250.2758,
        "market_cap_dominance": 51, "fully_diluted_market_cap": 952835089431.14,
        "last_updated": "2018-08-09T21:56:28.000Z",
    }},
}  # fmt: skip


def coin(cid: int, symbol: str, price: float) -> dict[str, Any]:
    usd = {**BTC["quote"]["USD"], "price": price}  # type: ignore[index]
    return {**BTC, "id": cid, "symbol": symbol, "quote": {"USD": usd}}


def map_row(cid: int, symbol: str, rank: int | None, active: int = 1) -> dict[str, Any]:
    return {"id": cid, "rank": rank, "name": f"{symbol} coin {cid}", "symbol": symbol,
            "slug": f"{symbol.lower()}-{cid}", "is_active": active, "platform": None}  # fmt: skip


def unknown(param: str, value: str) -> dict[str, Any]:
    return {"status": status(400, f'Invalid value for "{param}": "{value}"')}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


async def _provider(
    clock: FakeClock, key: str | None = KEY
) -> AsyncIterator[CoinMarketCapProvider]:
    settings = ProviderSettings(
        name="coinmarketcap",
        api_key=SecretStr(key) if key else None,
        base_url=BASE,
        enabled=True,
        rate_limits=(),
        ws_url=None,
    )
    async with build_http_client(settings, timeout=2.0) as client:
        http = ProviderHttp("coinmarketcap", client, clock=clock)
        yield CoinMarketCapProvider(settings, http, clock=clock)


@pytest.fixture
async def cmc(clock: FakeClock) -> AsyncIterator[CoinMarketCapProvider]:
    async for provider in _provider(clock):
        yield provider


def sent(route: respx.Route) -> httpx.Request:
    request: httpx.Request = route.calls.last.request
    assert request.headers["X-CMC_PRO_API_KEY"] == KEY
    assert KEY not in str(request.url)
    return request


async def fails(kind: type[ProviderError], call: Awaitable[Any]) -> ProviderError:
    with pytest.raises(kind) as info:
        await call
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.args)
    assert "coinmarketcap.com" not in str(info.value)
    return info.value


# Quotes ---------------------------------------------------------------------------------------
async def test_quote_request_and_parse(cmc: CoinMarketCapProvider, mock: respx.MockRouter) -> None:
    route = mock.get(QUOTES).respond(json={"data": {"1": BTC}, "status": status()})
    q = await cmc.quote("btc", AssetClass.CRYPTO)
    assert dict(sent(route).url.params) == {"id": "1", "convert": "USD", "skip_invalid": "true"}
    assert (q.symbol, q.price, q.change_percent) == ("BTC", 6602.60701122, 4.37185)
    assert q.change == pytest.approx(6602.60701122 - 6602.60701122 / 1.0437185)
    assert (q.volume, q.market_cap) == (4314444687.5194, 852164659250.2758)
    assert q.timestamp == datetime(2018, 8, 9, 21, 56, 28, tzinfo=UTC)
    assert (q.source, q.currency, q.asset_class) == ("coinmarketcap", "USD", AssetClass.CRYPTO)


async def test_declared_capabilities(cmc: CoinMarketCapProvider) -> None:
    info = cmc.info
    assert info.max_batch == 100 and info.max_bars_per_call == 0
    assert info.capabilities == {
        Capability.QUOTE,
        Capability.BATCH_QUOTE,
        Capability.FUNDAMENTALS,
        Capability.SEARCH,
    }
    await fails(UnsupportedError, cmc.news(query="btc", symbol=None, limit=3))
    await fails(UnsupportedError, cmc.quote("AAPL", AssetClass.STOCK))


async def test_batch_is_one_call_and_missing_ids_are_not_found(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    data = {"1": BTC, "1027": coin(1027, "ETH", 3000.0)}
    route = mock.get(QUOTES).respond(json={"data": data, "status": status()})
    out = await cmc.quotes(["BTC", "ETH-USD", "SOL"], AssetClass.CRYPTO)
    assert route.call_count == 1
    assert sent(route).url.params["id"] == "1,1027,5426"
    assert out["ETH-USD"].price == 3000.0  # type: ignore[union-attr]
    assert out["ETH-USD"].symbol == "ETH"  # type: ignore[union-attr]
    assert isinstance(out["SOL"], SymbolNotFoundError)  # dropped by skip_invalid


async def test_batch_whose_every_id_is_invalid_is_not_found_per_symbol(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    mock.get(QUOTES).respond(400, json=unknown("id", "1,1027"))
    out = await cmc.quotes(["BTC", "ETH"], AssetClass.CRYPTO)
    assert all(isinstance(v, SymbolNotFoundError) for v in out.values())


async def test_bad_quote_entry_fails_only_its_symbol(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    data = {"1": BTC, "1027": {**BTC, "quote": {"EUR": {}}}}
    mock.get(QUOTES).respond(json={"data": data, "status": status()})
    out = await cmc.quotes(["BTC", "ETH"], AssetClass.CRYPTO)
    assert out["BTC"].price == 6602.60701122  # type: ignore[union-attr]
    assert isinstance(out["ETH"], BadDataError)


# Symbol mapping -------------------------------------------------------------------------------
async def test_table_symbols_need_no_map_call(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    lookup = mock.get(MAP).respond(json={"data": [], "status": status()})
    mock.get(QUOTES).respond(json={"data": {}, "status": status()})
    await cmc.quotes(["POL", "TON", "DOGE"], AssetClass.CRYPTO)
    assert not lookup.called


async def test_map_picks_the_active_best_ranked_coin_and_caches_it(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    rows = [map_row(99, "WIF", None, active=0), map_row(28752, "WIF", 60),
            map_row(500, "WIF", 900), map_row(24478, "PEPE", 40)]  # fmt: skip
    lookup = mock.get(MAP).respond(json={"data": rows, "status": status()})
    data = {"28752": coin(28752, "WIF", 2.0), "24478": coin(24478, "PEPE", 0.00001)}
    route = mock.get(QUOTES).respond(json={"data": data, "status": status()})
    out = await cmc.quotes(["WIF", "PEPE"], AssetClass.CRYPTO)
    assert sent(lookup).url.params["symbol"] == "WIF,PEPE"
    assert route.calls.last.request.url.params["id"] == "28752,24478"
    assert (out["WIF"].price, out["PEPE"].price) == (2.0, 0.00001)  # type: ignore[union-attr]
    await cmc.quote("WIF", AssetClass.CRYPTO)
    assert lookup.call_count == 1  # cached


async def test_rejected_map_batch_is_retried_per_symbol_and_misses_expire(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter, clock: FakeClock
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        symbol = request.url.params["symbol"]
        if symbol == "PEPE":
            return httpx.Response(
                200, json={"data": [map_row(24478, "PEPE", 40)], "status": status()}
            )
        return httpx.Response(400, json=unknown("symbol", "NOPE"))

    lookup = mock.get(MAP).mock(side_effect=answer)
    mock.get(QUOTES).respond(
        json={"data": {"24478": coin(24478, "PEPE", 1e-5)}, "status": status()}
    )
    out = await cmc.quotes(["PEPE", "NOPE"], AssetClass.CRYPTO)
    assert [c.request.url.params["symbol"] for c in lookup.calls] == ["PEPE,NOPE", "PEPE", "NOPE"]
    assert out["PEPE"].price == 1e-5  # type: ignore[union-attr]
    assert isinstance(out["NOPE"], SymbolNotFoundError)
    await fails(SymbolNotFoundError, cmc.quote("NOPE", AssetClass.CRYPTO))
    assert lookup.call_count == 3  # the miss is cached...
    clock.now += MISS_TTL
    await fails(SymbolNotFoundError, cmc.quote("NOPE", AssetClass.CRYPTO))
    assert lookup.call_count == 4  # ...for an hour


# Profile, search, health ----------------------------------------------------------------------
DOGE_INFO = {
    "id": 74, "name": "Dogecoin", "symbol": "DOGE", "category": "coin",
    "description": "Dogecoin (DOGE) is a cryptocurrency.", "slug": "dogecoin",
    "logo": "https://s2.coinmarketcap.com/static/img/coins/64x64/74.png", "subreddit": "dogecoin",
    "notice": "", "tags": ["mineable", "pow"],
    "urls": {"website": ["http://dogecoin.com/"], "twitter": ["https://twitter.com/dogecoin"],
             "explorer": ["https://blockchair.com/dogecoin"], "source_code": []},
    "platform": None, "date_added": "2013-12-15T00:00:00.000Z",
}  # fmt: skip


async def test_fundamentals_from_info(cmc: CoinMarketCapProvider, mock: respx.MockRouter) -> None:
    route = mock.get(f"{BASE}/v2/cryptocurrency/info").respond(
        json={"data": {"74": DOGE_INFO}, "status": status()}
    )
    f = await cmc.fundamentals("doge")
    assert dict(sent(route).url.params) == {"id": "74"}
    assert (f.symbol, f.name, f.website, f.source) == (
        "DOGE",
        "Dogecoin",
        "http://dogecoin.com/",
        "coinmarketcap",
    )
    assert f.description == "Dogecoin (DOGE) is a cryptocurrency."
    assert f.extra["tags"] == ["mineable", "pow"]
    assert f.extra["explorer"] == "https://blockchair.com/dogecoin"
    assert "source_code" not in f.extra and "platform" not in f.extra


async def test_search_looks_the_ticker_up_in_the_map(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    rows = [map_row(646, "ETC", None, active=0), map_row(1321, "ETC", 30)]
    route = mock.get(MAP).respond(json={"data": rows, "status": status()})
    matches = await cmc.search("etc")
    assert sent(route).url.params["symbol"] == "ETC"
    assert [(m.symbol, m.provider_symbol) for m in matches] == [("ETC", "1321"), ("ETC", "646")]
    mock.get(MAP).respond(400, json=unknown("symbol", "ZZZQ"))
    assert await cmc.search("zzzq") == []


async def test_health_reads_key_info(cmc: CoinMarketCapProvider, mock: respx.MockRouter) -> None:
    body = {"data": {"plan": {"rate_limit_minute": 30}, "usage": {}}, "status": status()}
    route = mock.get(f"{BASE}/v1/key/info").respond(json=body)
    await cmc.health()
    assert sent(route)


# Errors ---------------------------------------------------------------------------------------
async def test_429_1008_without_retry_after_waits_for_the_next_minute(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    body = {"status": status(1008, "You've exceeded your API Key's HTTP request rate limit.")}
    mock.get(QUOTES).respond(429, json=body)
    err = await fails(RateLimitedError, cmc.quote("BTC", AssetClass.CRYPTO))
    assert err.retry_after == 30.0  # type: ignore[attr-defined]  # NOW is hh:mm:30


async def test_429_with_retry_after_seconds_and_http_date(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    body = {"status": status(1008, "rate limit")}
    mock.get(QUOTES).respond(429, json=body, headers={"Retry-After": "12"})
    err = await fails(RateLimitedError, cmc.quote("BTC", AssetClass.CRYPTO))
    assert err.retry_after == 12.0  # type: ignore[attr-defined]
    when = format_datetime(datetime.fromtimestamp(NOW + 75, tz=UTC), usegmt=True)
    mock.get(QUOTES).respond(429, json=body, headers={"Retry-After": when})
    err = await fails(RateLimitedError, cmc.quote("BTC", AssetClass.CRYPTO))
    assert err.retry_after == pytest.approx(75.0)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "wait"),
    [
        (1009, 12 * 3600 - 30.0),  # the next UTC midnight
        (1010, 30 * 86400 - 12 * 3600 - 30.0),  # 2024-07-01T00:00Z
        (1011, 30.0),
    ],
)
async def test_allowance_codes_are_rate_limits_until_their_reset(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter, code: int, wait: float
) -> None:
    mock.get(QUOTES).respond(429, json={"status": status(code, "allowance spent")})
    err = await fails(RateLimitedError, cmc.quote("BTC", AssetClass.CRYPTO))
    assert err.retry_after == pytest.approx(wait)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("http_status", "code"),
    [(401, 1001), (401, 1002), (402, 1003), (402, 1004), (403, 1005), (403, 1006), (403, 1007)],
)
async def test_key_and_plan_codes_are_auth_errors(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter, http_status: int, code: int
) -> None:
    mock.get(QUOTES).respond(http_status, json={"status": status(code, "This API Key is invalid.")})
    err = await fails(ProviderAuthError, cmc.quote("BTC", AssetClass.CRYPTO))
    assert f"code {code}" in str(err)


@pytest.mark.parametrize(
    ("code", "kind"),
    [(1008, RateLimitedError), (1006, ProviderAuthError), (500, ProviderUnavailableError)],
)
async def test_error_code_inside_http_200_is_an_error(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter, code: int, kind: type[ProviderError]
) -> None:
    mock.get(QUOTES).respond(200, json={"data": {"1": BTC}, "status": status(code, "no")})
    await fails(kind, cmc.quote("BTC", AssetClass.CRYPTO))


async def test_missing_key_is_sent_without_header_and_is_an_auth_error(
    clock: FakeClock, mock: respx.MockRouter
) -> None:
    route = mock.get(QUOTES).respond(401, json={"status": status(1002, "API key missing.")})
    async for keyless in _provider(clock, key=None):
        await fails(ProviderAuthError, keyless.quote("BTC", AssetClass.CRYPTO))
    assert "X-CMC_PRO_API_KEY" not in route.calls.last.request.headers


async def test_other_400_is_bad_data(cmc: CoinMarketCapProvider, mock: respx.MockRouter) -> None:
    mock.get(QUOTES).respond(400, json={"status": status(400, 'Invalid value for "convert"')})
    await fails(BadDataError, cmc.quote("BTC", AssetClass.CRYPTO))


async def test_unknown_id_on_a_single_lookup_is_not_found(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/v2/cryptocurrency/info").respond(400, json=unknown("id", "1"))
    await fails(SymbolNotFoundError, cmc.fundamentals("BTC"))


@pytest.mark.parametrize("http_status", [500, 502, 503])
async def test_5xx_is_unavailable(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter, http_status: int
) -> None:
    mock.get(QUOTES).respond(http_status, json={"status": status(500, "An internal error")})
    await fails(ProviderUnavailableError, cmc.quote("BTC", AssetClass.CRYPTO))
    mock.get(QUOTES).respond(http_status, html="<html>Bad Gateway</html>")
    await fails(ProviderUnavailableError, cmc.quote("BTC", AssetClass.CRYPTO))


async def test_timeout_is_unavailable(cmc: CoinMarketCapProvider, mock: respx.MockRouter) -> None:
    mock.get(QUOTES).mock(side_effect=httpx.ConnectTimeout("slow"))
    await fails(ProviderUnavailableError, cmc.quote("BTC", AssetClass.CRYPTO))


async def test_non_json_200_is_bad_data(cmc: CoinMarketCapProvider, mock: respx.MockRouter) -> None:
    mock.get(QUOTES).respond(200, html="<html>maintenance</html>")
    await fails(BadDataError, cmc.quote("BTC", AssetClass.CRYPTO))


async def test_schema_mismatch_is_bad_data(
    cmc: CoinMarketCapProvider, mock: respx.MockRouter
) -> None:
    mock.get(QUOTES).respond(json={"data": [BTC], "status": status()})
    await fails(BadDataError, cmc.quote("BTC", AssetClass.CRYPTO))
    mock.get(MAP).respond(json={"data": [{"id": "x"}], "status": status()})
    await fails(BadDataError, cmc.quote("PEPE", AssetClass.CRYPTO))
