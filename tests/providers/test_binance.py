"""BinanceProvider against respx on the documented wire shapes (providers.md section 8)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from marketsvc.config import ProviderSettings
from marketsvc.domain import AssetClass, Capability, Interval, Quote, RateLimit
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
from marketsvc.providers.binance import BinanceProvider
from marketsvc.providers.registry import build_http_client
from tests.fakes import FakeClock

BASE = "https://api.binance.com"
SENTINEL = "sentinel-binance-key-7f3a"
T0 = 1_700_000_000.0
TICKER = "/api/v3/ticker/24hr"
INFO = "/api/v3/exchangeInfo"


def ticker(
    pair: str, last: str = "65000.10000000", close_time: int = 1_700_000_000_123
) -> dict[str, Any]:
    return {
        "symbol": pair, "priceChange": "-94.99999800", "priceChangePercent": "-0.146",
        "weightedAvgPrice": "64990.0", "prevClosePrice": "65094.00000000", "lastPrice": last,
        "lastQty": "0.1", "bidPrice": "64999.0", "bidQty": "1", "askPrice": "65001.0",
        "askQty": "1", "openPrice": "65095.10000000", "highPrice": "65500.00000000",
        "lowPrice": "64000.00000000", "volume": "8913.30000000", "quoteVolume": "5.7e8",
        "openTime": close_time - 86_400_000, "closeTime": close_time, "firstId": 28385,
        "lastId": 28460, "count": 76,
    }  # fmt: skip


def symbol_info(pair: str, base: str, quote: str, status: str = "TRADING") -> dict[str, Any]:
    return {"symbol": pair, "status": status, "baseAsset": base, "quoteAsset": quote,
            "baseAssetPrecision": 8, "quotePrecision": 8, "permissionSets": [["SPOT"]]}  # fmt: skip


EXCHANGE_INFO = {
    "timezone": "UTC",
    "serverTime": 1565246363776,
    "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                    "limit": 6000}],
    "exchangeFilters": [],
    "symbols": [
        symbol_info("BTCUSDT", "BTC", "USDT"),
        symbol_info("BTCUSDC", "BTC", "USDC"),
        symbol_info("ETHUSDT", "ETH", "USDT"),
        symbol_info("PEPEUSDT", "PEPE", "USDT"),
        symbol_info("PEPEFDUSD", "PEPE", "FDUSD"),
        symbol_info("WLDFDUSD", "WLD", "FDUSD"),
        symbol_info("WLDUSDC", "WLD", "USDC"),
        symbol_info("TONUSDT", "TON", "USDT", status="BREAK"),
        symbol_info("TONUSDC", "TON", "USDC"),
        symbol_info("MATICUSDT", "MATIC", "USDT", status="BREAK"),
        symbol_info("ONLYBTCBTC", "ONLYBTC", "BTC"),
    ],
}  # fmt: skip
INVALID = {"code": -1121, "msg": "Invalid symbol."}
WEIGHT = {"X-MBX-USED-WEIGHT-1M": "42"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def provider(clock: FakeClock) -> AsyncIterator[BinanceProvider]:
    # A key is configured on purpose: Binance market data must never send it.
    settings = ProviderSettings(
        name="binance",
        api_key=SecretStr(SENTINEL),
        base_url=BASE,
        enabled=True,
        rate_limits=RateLimit.parse_many("6000/minute"),
        ws_url=None,
    )
    client = build_http_client(settings, timeout=2.0)
    try:
        yield BinanceProvider(settings, ProviderHttp("binance", client, clock=clock), clock=clock)
    finally:
        await client.aclose()


def assert_no_key(mock: respx.MockRouter, *errors: BaseException) -> None:
    for call in mock.calls:
        assert SENTINEL not in str(call.request.url)
        assert all(SENTINEL not in v for v in call.request.headers.values())
    for err in errors:
        # Neither the key nor the request URL; 451 names only the suggested hosts.
        assert SENTINEL not in str(err) and "/api/v3" not in str(err)


def calls_to(mock: respx.MockRouter, path: str) -> list[httpx.Request]:
    return [c.request for c in mock.calls if c.request.url.path == path]


async def test_quote_request_and_parse(provider: BinanceProvider, mock: respx.MockRouter) -> None:
    route = mock.get(TICKER, params={"symbol": "BTCUSDT"}).respond(
        200, json=ticker("BTCUSDT"), headers=WEIGHT
    )
    q = await provider.quote("btc", AssetClass.CRYPTO)
    assert route.call_count == 1 and dict(route.calls[0].request.url.params) == {
        "symbol": "BTCUSDT"
    }
    assert (q.symbol, q.price, q.change, q.change_percent) == ("BTC", 65000.1, -94.999998, -0.146)
    assert (q.open, q.high, q.low, q.previous_close) == (65095.1, 65500.0, 64000.0, 65094.0)
    assert q.volume == 8913.3 and q.currency == "USD" and q.source == "binance"
    assert q.timestamp == datetime.fromtimestamp(1_700_000_000.123, tz=UTC)
    assert provider.used_weight_1m == 42 and provider.used_weight_at == T0
    assert not calls_to(mock, INFO)  # table symbol: no exchangeInfo call
    assert_no_key(mock)


async def test_batch_sends_compact_json_array(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get(TICKER).respond(200, json=[ticker("BTCUSDT"), ticker("ETHUSDT", "3200.5")])
    out = await provider.quotes(["BTC", "ETH", "eth"], AssetClass.CRYPTO)
    (req,) = calls_to(mock, TICKER)
    assert req.url.params["symbols"] == '["BTCUSDT","ETHUSDT"]'
    assert "%5B%22BTCUSDT%22" in str(req.url) and " " not in str(req.url)
    assert isinstance(out["ETH"], Quote) and out["ETH"].price == 3200.5
    assert isinstance(out["eth"], Quote) and out["eth"].symbol == "ETH"
    assert isinstance(out["BTC"], Quote) and out["BTC"].price == 65000.1


async def test_batch_entry_missing_or_malformed_fails_alone(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    bad = ticker("ETHUSDT", last="not-a-number")
    mock.get(TICKER).respond(200, json=[ticker("BTCUSDT"), bad])
    out = await provider.quotes(["BTC", "ETH", "SOL"], AssetClass.CRYPTO)
    assert isinstance(out["BTC"], Quote)
    assert isinstance(out["ETH"], BadDataError)
    assert isinstance(out["SOL"], SymbolNotFoundError) and out["SOL"].symbol == "SOL"


async def test_batch_validates_unlisted_symbols_before_calling(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    mock.get(TICKER).respond(200, json=[ticker("BTCUSDT"), ticker("PEPEUSDT", "0.00001")])
    out = await provider.quotes(["BTC", "PEPE", "NOPE", "ONLYBTC"], AssetClass.CRYPTO)
    (req,) = calls_to(mock, TICKER)
    assert req.url.params["symbols"] == '["BTCUSDT","PEPEUSDT"]'
    assert isinstance(out["PEPE"], Quote) and out["PEPE"].price == 0.00001
    assert isinstance(out["NOPE"], SymbolNotFoundError)
    assert isinstance(out["ONLYBTC"], SymbolNotFoundError)  # no USD-stable quote


async def test_batch_rejected_by_1121_drops_unlisted_and_retries_once(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    mock.get(TICKER).mock(
        side_effect=[
            httpx.Response(400, json=INVALID),
            httpx.Response(200, json=[ticker("BTCUSDT"), ticker("TONUSDC", "6.5")]),
        ]
    )
    out = await provider.quotes(["BTC", "MATIC", "TON"], AssetClass.CRYPTO)
    first, second = calls_to(mock, TICKER)
    assert first.url.params["symbols"] == '["BTCUSDT","MATICUSDT","TONUSDT"]'
    assert second.url.params["symbols"] == '["BTCUSDT","TONUSDC"]'
    assert len(calls_to(mock, INFO)) == 1
    assert isinstance(out["MATIC"], SymbolNotFoundError)
    assert isinstance(out["TON"], Quote) and out["TON"].price == 6.5
    assert isinstance(out["BTC"], Quote)


async def test_batch_rejected_although_listed_is_bad_data(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    mock.get(TICKER).respond(400, json=INVALID)
    with pytest.raises(BadDataError) as err:
        await provider.quotes(["BTC", "ETH"], AssetClass.CRYPTO)
    assert "-1121" in str(err.value)
    assert len(calls_to(mock, TICKER)) == 1
    assert_no_key(mock, err.value)


def test_weights_follow_binance_batch_table(provider: BinanceProvider) -> None:
    sizes = {1: 2, 20: 2, 21: 40, 100: 40, 101: 80, 500: 80}
    assert {n: provider.weight("quotes", n) for n in sizes} == sizes
    ops = ("quote", "history", "search", "health")
    assert [provider.weight(op) for op in ops] == [2, 2, 20, 1]


def test_info_declares_what_binance_offers() -> None:
    info = BinanceProvider.info
    assert info.capabilities == {
        Capability.QUOTE, Capability.BATCH_QUOTE, Capability.HISTORY, Capability.SEARCH
    }  # fmt: skip
    assert (info.max_batch, info.max_bars_per_call) == (100, 1000)
    assert info.history_intervals == set(Interval)
    assert info.asset_classes == {AssetClass.CRYPTO}


async def test_lookup_is_cached_and_refreshed_after_a_day(
    provider: BinanceProvider, mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    mock.get(TICKER).mock(side_effect=lambda req: httpx.Response(200, json=ticker(
        req.url.params["symbol"])))  # fmt: skip
    await provider.quote("PEPE", AssetClass.CRYPTO)
    await provider.quote("WLD", AssetClass.CRYPTO)  # USDC preferred over FDUSD
    assert len(calls_to(mock, INFO)) == 1
    assert [r.url.params["symbol"] for r in calls_to(mock, TICKER)] == ["PEPEUSDT", "WLDUSDC"]
    clock.advance(24 * 3600 + 1)
    await provider.quote("PEPE", AssetClass.CRYPTO)
    assert len(calls_to(mock, INFO)) == 2


async def test_unknown_symbol_costs_no_ticker_call_once_listed(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    with pytest.raises(SymbolNotFoundError) as err:
        await provider.quote("NOPE", AssetClass.CRYPTO)
    assert err.value.symbol == "NOPE" and not calls_to(mock, TICKER)


async def test_table_guess_rejected_falls_back_to_exchange_info(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    mock.get(TICKER, params={"symbol": "TONUSDT"}).respond(400, json=INVALID)
    mock.get(TICKER, params={"symbol": "TONUSDC"}).respond(200, json=ticker("TONUSDC", "6.1"))
    q = await provider.quote("TON", AssetClass.CRYPTO)
    assert q.price == 6.1 and q.symbol == "TON"
    with pytest.raises(SymbolNotFoundError) as err:
        await provider.quote("MATIC", AssetClass.CRYPTO)
    assert err.value.symbol == "MATIC"
    # Once exchangeInfo is cached it is authoritative: MATIC (BREAK) costs no ticker call.
    assert [r.url.params["symbol"] for r in calls_to(mock, TICKER)] == ["TONUSDT", "TONUSDC"]
    assert len(calls_to(mock, INFO)) == 1


async def test_table_guess_rejected_and_unlisted_is_not_found(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    mock.get(TICKER).respond(400, json=INVALID, headers=WEIGHT)
    with pytest.raises(SymbolNotFoundError) as err:
        await provider.quote("matic", AssetClass.CRYPTO)
    assert err.value.symbol == "MATIC"
    assert [r.url.params["symbol"] for r in calls_to(mock, TICKER)] == ["MATICUSDT"]
    assert len(calls_to(mock, INFO)) == 1 and provider.used_weight_1m == 42


async def test_history_request_and_parse(provider: BinanceProvider, mock: respx.MockRouter) -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 3, tzinfo=UTC)
    s_ms = int(start.timestamp() * 1000)
    rows = [[s_ms - 3_600_000, "1", "1", "1", "1", "1", 0, "0", 1, "0", "0", "0"]] + [
        [s_ms + h * 3_600_000, f"{100 + h}", "110.5", "99.5", f"{101 + h}", "12.5",
         s_ms + (h + 1) * 3_600_000 - 1, "1250.0", 308, "6", "600", "0"]
        for h in range(4)
    ]  # fmt: skip
    route = mock.get("/api/v3/klines").respond(200, json=rows)
    candles = await provider.history("ETH", AssetClass.CRYPTO, Interval.HOUR, start, end)
    assert dict(route.calls[0].request.url.params) == {
        "symbol": "ETHUSDT", "interval": "1h", "startTime": str(s_ms),
        "endTime": str(s_ms + 3 * 3_600_000 - 1), "limit": "1000",
    }  # fmt: skip
    assert [c.ts.hour for c in candles] == [0, 1, 2]  # rows outside [start, end) dropped
    assert (candles[1].open, candles[1].high, candles[1].low, candles[1].close) == (
        101.0, 110.5, 99.5, 102.0
    )  # fmt: skip
    assert candles[0].volume == 12.5 and candles[0].ts.tzinfo is not None


@pytest.mark.parametrize(("interval", "code"), [(Interval.MINUTE, "1m"), (Interval.WEEK, "1w")])
async def test_history_interval_codes(
    provider: BinanceProvider, mock: respx.MockRouter, interval: Interval, code: str
) -> None:
    route = mock.get("/api/v3/klines").respond(200, json=[])
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = datetime(2024, 2, 1, tzinfo=UTC)
    assert await provider.history("BTC", AssetClass.CRYPTO, interval, start, end) == []
    assert route.calls[0].request.url.params["interval"] == code


async def test_bad_interval_code_is_bad_data(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get("/api/v3/klines").respond(400, json={"code": -1120, "msg": "Invalid interval."})
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(BadDataError, match="-1120"):
        await provider.history("BTC", AssetClass.CRYPTO, Interval.DAY, start, datetime.now(UTC))


async def test_search_uses_exchange_info(provider: BinanceProvider, mock: respx.MockRouter) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    matches = await provider.search("pe")
    assert [(m.symbol, m.provider_symbol) for m in matches] == [("PEPE", "PEPEUSDT")]
    by_name = await provider.search("bitcoin")
    assert [(m.symbol, m.name, m.provider_symbol) for m in by_name] == [
        ("BTC", "Bitcoin", "BTCUSDT")
    ]
    assert len(calls_to(mock, INFO)) == 1


async def test_health_pings(provider: BinanceProvider, mock: respx.MockRouter) -> None:
    route = mock.get("/api/v3/ping").respond(200, json={}, headers={"X-MBX-USED-WEIGHT-1M": "7"})
    await provider.health()
    assert route.call_count == 1 and provider.used_weight_1m == 7


async def test_stocks_are_unsupported(provider: BinanceProvider, mock: respx.MockRouter) -> None:
    with pytest.raises(UnsupportedError):
        await provider.quote("AAPL", AssetClass.STOCK)
    assert not mock.calls


TOO_MANY = {"code": -1003, "msg": "Too much request weight used; current limit is 6000 ..."}


@pytest.mark.parametrize(
    ("response", "error", "retry_after"),
    [
        (httpx.Response(429, json=TOO_MANY, headers={"Retry-After": "7"}), RateLimitedError, 7.0),
        (httpx.Response(429, json=TOO_MANY, headers={"Retry-After": formatdate(T0 + 30,
         usegmt=True)}), RateLimitedError, 30.0),
        (httpx.Response(418, json=TOO_MANY, headers={"Retry-After": "600"}), RateLimitedError,
         600.0),
        (httpx.Response(418, json=TOO_MANY), RateLimitedError, 120.0),
        (httpx.Response(429, text="<html>Too Many Requests</html>"), RateLimitedError, None),
        (httpx.Response(451, json={"code": 0, "msg": "Service unavailable from a restricted "
         "location according to 'b. Eligibility' in https://www.binance.com/en/terms."}),
         ProviderAuthError, None),
        (httpx.Response(403, text="<html>WAF</html>"), ProviderAuthError, None),
        (httpx.Response(503, json={"code": -1001, "msg": "Internal error"}),
         ProviderUnavailableError, None),
        (httpx.Response(502, text="<html>Bad gateway</html>"), ProviderUnavailableError, None),
        (httpx.Response(200, text="<html>maintenance</html>"), BadDataError, None),
        (httpx.Response(200, json={"symbol": "BTCUSDT", "price": "1"}), BadDataError, None),
        (httpx.Response(400, json={"code": -1100, "msg": "Illegal characters"}), BadDataError,
         None),
        (httpx.Response(400, json=INVALID), SymbolNotFoundError, None),
    ],
)  # fmt: skip
async def test_error_mapping(
    provider: BinanceProvider,
    mock: respx.MockRouter,
    response: httpx.Response,
    error: type[ProviderError],
    retry_after: float | None,
) -> None:
    mock.get(INFO).respond(200, json=EXCHANGE_INFO)
    response.headers["X-MBX-USED-WEIGHT-1M"] = "5999"
    mock.get(TICKER).mock(return_value=response)
    with pytest.raises(error) as err:
        await provider.quote("BTC", AssetClass.CRYPTO)
    if isinstance(err.value, RateLimitedError):
        assert err.value.retry_after == retry_after
    if response.status_code == 451:
        assert "restricted" in str(err.value) and "https://api.binance.us" in str(err.value)
        assert "binance.com/en/terms" not in str(err.value)
    assert provider.used_weight_1m == 5999
    assert_no_key(mock, err.value)


async def test_timeout_is_unavailable(provider: BinanceProvider, mock: respx.MockRouter) -> None:
    mock.get(TICKER).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderUnavailableError, match="timed out") as err:
        await provider.quote("BTC", AssetClass.CRYPTO)
    assert err.value.reason == "timeout"
    assert_no_key(mock, err.value)


async def test_exchange_info_schema_mismatch_is_bad_data(
    provider: BinanceProvider, mock: respx.MockRouter
) -> None:
    mock.get(INFO).respond(200, json={"symbols": [{"symbol": "X"}]})
    with pytest.raises(BadDataError):
        await provider.search("x")
