"""``Provider.symbols(asset_class)`` of every adapter that lists its symbols, against respx on
the vendors' real list shapes (shared/reference/providers.md): CoinGecko ``/coins/list``,
Binance ``exchangeInfo``, CMC ``/v1/cryptocurrency/map`` (paged by start/limit), Finnhub
``/stock/symbol`` and ``/crypto/symbol``, Massive ``/v3/reference/tickers`` (paged by
``next_url``) and Tiingo's supported-tickers zip."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from marketsvc.config import ProviderSettings
from marketsvc.domain import AssetClass, SymbolMatch
from marketsvc.errors import BadDataError, UnsupportedError
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.base import Provider
from marketsvc.providers.registry import build_http_client, build_provider

KEY = "LIST-SENTINEL-key-7731"
NOW = 1_779_100_000.0


def _settings(name: str, base: str) -> ProviderSettings:
    return ProviderSettings(
        name=name,
        api_key=SecretStr(KEY),
        base_url=base,
        enabled=True,
        rate_limits=(),
        ws_url=None,
    )


@asynccontextmanager
async def adapter(name: str, base: str) -> AsyncIterator[Provider]:
    settings = _settings(name, base)
    async with build_http_client(settings, timeout=2.0) as client:
        yield build_provider(settings, ProviderHttp(name, client, clock=lambda: NOW))


def by_symbol(matches: list[SymbolMatch]) -> dict[str, SymbolMatch]:
    return {m.symbol: m for m in matches}


def no_key_in_url(route: respx.Route) -> None:
    for call in route.calls:
        assert KEY not in str(call.request.url)


# --- CoinGecko ---------------------------------------------------------------------------------
CG = "https://api.coingecko.com/api/v3"
COINS_LIST = [
    {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin"},
    {"id": "pepe", "symbol": "pepe", "name": "Pepe"},
    {"id": "internet-computer", "symbol": "icp", "name": "Internet Computer"},
    {"id": "wif-copy", "symbol": "wif", "name": "WIF copy"},
    {"id": "dogwifcoin", "symbol": "wif", "name": "dogwifhat"},
    {"id": "bitcoin-on-base", "symbol": "btc", "name": "Bitcoin on Base"},
]


async def test_coingecko_lists_every_coin_and_renews_its_id_map() -> None:
    async with adapter("coingecko", CG) as cg:
        with respx.mock(base_url=CG, assert_all_called=False) as mock:
            route = mock.get("/coins/list").respond(json=COINS_LIST)
            price = mock.get("/simple/price").respond(json={"pepe": {"usd": 0.00001}})
            matches = await cg.symbols(AssetClass.CRYPTO)
            # The list just fetched maps PEPE to its id: the quote needs no second list call.
            quote = await cg.quote("PEPE", AssetClass.CRYPTO)
    assert route.call_count == 1 and price.call_count == 1
    assert quote.price == 0.00001
    assert price.calls[0].request.url.params["ids"] == "pepe"
    assert len(matches) == len(COINS_LIST)  # tickers are not unique: every id is kept
    assert all(m.asset_class is AssetClass.CRYPTO and m.source == "coingecko" for m in matches)
    btc = [m for m in matches if m.symbol == "BTC"]
    assert [m.provider_symbol for m in btc] == ["bitcoin", "bitcoin-on-base"]  # top coin first
    assert by_symbol(matches)["ICP"].name == "Internet Computer"
    no_key_in_url(route)


async def test_coingecko_rejects_stock_lists_and_bad_shapes() -> None:
    async with adapter("coingecko", CG) as cg:
        with pytest.raises(UnsupportedError):
            await cg.symbols(AssetClass.STOCK)
        with respx.mock(base_url=CG) as mock:
            mock.get("/coins/list").respond(json={"coins": []})
            with pytest.raises(BadDataError):
                await cg.symbols(AssetClass.CRYPTO)


# --- Binance -----------------------------------------------------------------------------------
BN = "https://api.binance.com"


def _pair(pair: str, base: str, quote: str, status: str = "TRADING") -> dict[str, Any]:
    return {"symbol": pair, "status": status, "baseAsset": base, "quoteAsset": quote,
            "baseAssetPrecision": 8, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False, "filters": [], "permissions": [],
            "permissionSets": [["SPOT"]]}  # fmt: skip


EXCHANGE_INFO = {
    "timezone": "UTC",
    "serverTime": 1565246363776,
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
    ],
    "exchangeFilters": [],
    "symbols": [
        _pair("BTCUSDT", "BTC", "USDT"),
        _pair("ETHBTC", "ETH", "BTC"),  # no stablecoin quote: not quotable in USD here
        _pair("PEPEUSDC", "PEPE", "USDC"),
        _pair("PEPEUSDT", "PEPE", "USDT"),
        _pair("HBARUSDT", "HBAR", "USDT"),
        _pair("LUNAUSDT", "LUNA", "USDT", status="BREAK"),  # halted: left out
    ],
}


async def test_binance_lists_bases_with_a_stablecoin_pair() -> None:
    async with adapter("binance", BN) as bn:
        with respx.mock(base_url=BN) as mock:
            route = mock.get("/api/v3/exchangeInfo").respond(json=EXCHANGE_INFO)
            matches = await bn.symbols(AssetClass.CRYPTO)
            again = await bn.symbols(AssetClass.CRYPTO)  # within a minute: the same listing
    assert route.call_count == 1
    assert bn.weight("symbols") == 20  # exchangeInfo's documented weight
    assert again == matches
    found = by_symbol(matches)
    assert set(found) == {"BTC", "PEPE", "HBAR"}
    assert found["PEPE"].provider_symbol == "PEPEUSDT"  # USDT preferred over USDC
    assert found["BTC"].name == "Bitcoin" and found["HBAR"].name == "HBAR"


# --- CoinMarketCap ----------------------------------------------------------------------------
CMC = "https://pro-api.coinmarketcap.com"


def _map_row(cid: int, sym: str, name: str, rank: int | None) -> dict[str, Any]:
    return {"id": cid, "rank": rank, "name": name, "symbol": sym, "slug": name.lower(),
            "is_active": 1, "first_historical_data": "2013-04-28T18:47:21.000Z",
            "last_historical_data": "2026-05-18T10:20:00.000Z", "platform": None}  # fmt: skip


def _envelope(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": rows, "status": {"timestamp": "2026-05-18T10:26:40.000Z", "error_code": 0,
            "error_message": None, "elapsed": 5, "credit_count": 1, "notice": None}}  # fmt: skip


async def test_coinmarketcap_pages_the_map_until_a_short_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from marketsvc.providers import coinmarketcap

    monkeypatch.setattr(coinmarketcap, "MAP_PAGE", 2)  # three pages instead of 10,000 rows
    pages = {
        "1": [_map_row(1, "BTC", "Bitcoin", 1), _map_row(24478, "PEPE", "Pepe", 2)],
        "3": [_map_row(8916, "ICP", "Internet Computer", 3), _map_row(99, "PEPE", "Pepe2", 4)],
        "5": [_map_row(4642, "HBAR", "Hedera", 5)],
    }

    def page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_envelope(pages[request.url.params["start"]]))

    async with adapter("coinmarketcap", CMC) as cmc:
        with respx.mock(base_url=CMC, assert_all_called=False) as mock:
            route = mock.get("/v1/cryptocurrency/map").mock(side_effect=page)
            empty = {**_envelope([]), "data": {}}
            quotes = mock.get("/v2/cryptocurrency/quotes/latest").respond(json=empty)
            matches = await cmc.symbols(AssetClass.CRYPTO)
            # The map filled the adapter's symbol → id table: PEPE maps to the best-ranked id
            # with no further map call.
            await cmc.quotes(["PEPE"], AssetClass.CRYPTO)
    assert route.call_count == 3
    params = [dict(c.request.url.params) for c in route.calls]
    assert [p["start"] for p in params] == ["1", "3", "5"]
    assert all(p["limit"] == "2" and p["sort"] == "cmc_rank" for p in params)
    assert all(p["listing_status"] == "active" for p in params)
    assert all(c.request.headers["X-CMC_PRO_API_KEY"] == KEY for c in route.calls)
    assert [m.symbol for m in matches] == ["BTC", "PEPE", "ICP", "PEPE", "HBAR"]
    assert quotes.calls[0].request.url.params["id"] == "24478"
    no_key_in_url(route)


# --- Finnhub -----------------------------------------------------------------------------------
FH = "https://finnhub.io/api/v1"
STOCK_SYMBOLS = [
    {"currency": "USD", "description": "APPLE INC", "displaySymbol": "AAPL",
     "figi": "BBG000B9XRY4", "isin": None, "mic": "XNAS", "shareClassFIGI": "BBG001S5N8V8",
     "symbol": "AAPL", "symbol2": "", "type": "Common Stock"},
    {"currency": "USD", "description": "PALANTIR TECHNOLOGIES INC-A", "displaySymbol": "PLTR",
     "figi": "BBG000N7MXL8", "isin": None, "mic": "XNYS", "shareClassFIGI": "",
     "symbol": "PLTR", "symbol2": "", "type": "Common Stock"},
    {"currency": "USD", "description": "BERKSHIRE HATHAWAY INC-CL B", "displaySymbol": "BRK.B",
     "figi": "BBG000DWG505", "isin": None, "mic": "XNYS", "shareClassFIGI": "",
     "symbol": "BRK.B", "symbol2": "", "type": "Common Stock"},
    {"currency": "USD", "description": "ODD ROW", "displaySymbol": "BAD TICKER",
     "figi": "", "isin": None, "mic": "OOTC", "shareClassFIGI": "", "symbol": "BAD TICKER",
     "symbol2": "", "type": "Unit"},
]  # fmt: skip


QUOTE = {"c": 1.2, "d": 0.1, "dp": 1.0, "h": 1.3, "l": 1.1, "o": 1.1, "pc": 1.1, "t": 1779100000}


async def test_finnhub_lists_us_stocks_and_binance_coins() -> None:
    crypto = [
        {"description": "Binance PEPEUSDT", "displaySymbol": "PEPE/USDT",
         "symbol": "BINANCE:PEPEUSDT"},
        {"description": "Binance PEPEBTC", "displaySymbol": "PEPE/BTC",
         "symbol": "BINANCE:PEPEBTC"},
        {"description": "Binance ICPUSDT", "displaySymbol": "ICP/USDT",
         "symbol": "BINANCE:ICPUSDT"},
    ]  # fmt: skip
    async with adapter("finnhub", FH) as fh:
        with respx.mock(base_url=FH, assert_all_called=False) as mock:
            stocks = mock.get("/stock/symbol").respond(json=STOCK_SYMBOLS)
            coins = mock.get("/crypto/symbol").respond(json=crypto)
            quote = mock.get("/quote").respond(json=QUOTE)
            stock_matches = await fh.symbols(AssetClass.STOCK)
            coin_matches = await fh.symbols(AssetClass.CRYPTO)
            await fh.quote("ICP", AssetClass.CRYPTO)  # mapped by the list just fetched
    assert stocks.calls[0].request.url.params["exchange"] == "US"
    assert stocks.calls[0].request.headers["X-Finnhub-Token"] == KEY
    assert [m.symbol for m in stock_matches] == ["AAPL", "PLTR", "BRK.B"]  # bad ticker skipped
    assert by_symbol(stock_matches)["PLTR"].name == "PALANTIR TECHNOLOGIES INC-A"
    assert {m.symbol: m.provider_symbol for m in coin_matches} == {
        "ICP": "BINANCE:ICPUSDT",
        "PEPE": "BINANCE:PEPEUSDT",
    }
    assert coins.call_count == 1  # the quote reused the list
    assert quote.calls[0].request.url.params["symbol"] == "BINANCE:ICPUSDT"
    no_key_in_url(stocks)


# --- Massive (Polygon) ------------------------------------------------------------------------
PG = "https://api.massive.com"


def _ticker(t: str, name: str, market: str = "stocks") -> dict[str, Any]:
    return {"ticker": t, "name": name, "market": market, "locale": "us",
            "primary_exchange": "XNYS", "type": "CS", "active": True, "currency_name": "usd",
            "cik": "0001090872", "composite_figi": "BBG000C2V3D6",
            "share_class_figi": "BBG001SCTQY4",
            "last_updated_utc": "2022-04-27T00:00:00Z"}  # fmt: skip


async def test_polygon_follows_next_url_pages_on_its_own_host() -> None:
    first = {
        "results": [_ticker("A", "Agilent Technologies Inc."), _ticker("AA", "Alcoa")],
        "status": "OK",
        "request_id": "r1",
        "count": 2,
        "next_url": f"{PG}/v3/reference/tickers?cursor=YWN0aXZlPXRydWUmb2Zmc2V0PTI",
    }
    second = {"results": [_ticker("PLTR", "Palantir Technologies Inc."),
                          _ticker("AA", "Alcoa duplicate")],
              "status": "OK", "request_id": "r2", "count": 2}  # fmt: skip

    def page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=second if "cursor" in request.url.params else first)

    async with adapter("polygon", PG) as pg:
        with respx.mock(base_url=PG) as mock:
            route = mock.get("/v3/reference/tickers").mock(side_effect=page)
            matches = await pg.symbols(AssetClass.STOCK)
    assert route.call_count == 2
    params = route.calls[0].request.url.params
    assert (params["market"], params["active"], params["limit"]) == ("stocks", "true", "1000")
    assert dict(route.calls[1].request.url.params) == {"cursor": "YWN0aXZlPXRydWUmb2Zmc2V0PTI"}
    assert all(c.request.headers["Authorization"] == f"Bearer {KEY}" for c in route.calls)
    assert [m.symbol for m in matches] == ["A", "AA", "PLTR"]
    assert by_symbol(matches)["AA"].name == "Alcoa"
    no_key_in_url(route)


async def test_polygon_refuses_a_next_url_to_another_host() -> None:
    body = {"results": [_ticker("A", "Agilent")], "status": "OK", "request_id": "r", "count": 1,
            "next_url": "https://evil.example/v3/reference/tickers?cursor=x"}  # fmt: skip
    async with adapter("polygon", PG) as pg:
        with respx.mock(base_url=PG) as mock:
            mock.get("/v3/reference/tickers").respond(json=body)
            with pytest.raises(BadDataError):
                await pg.symbols(AssetClass.STOCK)
        with pytest.raises(UnsupportedError):
            await pg.symbols(AssetClass.CRYPTO)


# --- Tiingo ------------------------------------------------------------------------------------
TIINGO = "https://api.tiingo.com"
MEDIA = "https://apimedia.tiingo.com"


def _zip(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["ticker", "exchange", "assetType", "priceCurrency", "startDate", "endDate"])
    writer.writerows(rows)
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("supported_tickers.csv", text.getvalue())
    return blob.getvalue()


TICKERS_ZIP = _zip(
    [
        ["aapl", "NASDAQ", "Stock", "USD", "1980-12-12", "2026-05-15"],
        ["brk-b", "NYSE", "Stock", "USD", "1996-05-09", "2026-05-15"],
        ["spy", "NYSE ARCA", "ETF", "USD", "1993-01-29", "2026-05-14"],
        ["lehmq", "NYSE", "Stock", "USD", "1994-05-31", "2012-03-05"],  # delisted
        ["600519", "SHG", "Stock", "CNY", "2001-08-27", "2026-05-15"],  # foreign
        ["vfiax", "NMFQS", "Mutual Fund", "USD", "2000-11-13", "2026-05-15"],
        ["nodate", "NYSE", "Stock", "USD", "", ""],
    ]
)


async def test_tiingo_reads_the_zip_from_the_media_host_without_the_key() -> None:
    async with adapter("tiingo", TIINGO) as tg:
        with respx.mock(base_url=MEDIA) as mock:
            route = mock.get("/docs/tiingo/daily/supported_tickers.zip").respond(
                content=TICKERS_ZIP, headers={"content-type": "application/zip"}
            )
            matches = await tg.symbols(AssetClass.STOCK)
        with pytest.raises(UnsupportedError):
            await tg.symbols(AssetClass.CRYPTO)
    assert "authorization" not in route.calls[0].request.headers  # the file needs no key
    assert {m.symbol: m.provider_symbol for m in matches} == {
        "AAPL": "aapl",
        "BRK.B": "brk-b",
        "SPY": "spy",
    }


async def test_tiingo_under_another_base_reads_the_list_there_and_rejects_non_zip() -> None:
    proxy = "https://proxy.example/tiingo"
    async with adapter("tiingo", proxy) as tg:
        with respx.mock(base_url=proxy) as mock:
            mock.get("/docs/tiingo/daily/supported_tickers.zip").respond(content=TICKERS_ZIP)
            assert len(await tg.symbols(AssetClass.STOCK)) == 3
        with respx.mock(base_url=proxy) as mock:
            mock.get("/docs/tiingo/daily/supported_tickers.zip").respond(content=b"<html>")
            with pytest.raises(BadDataError):
                await tg.symbols(AssetClass.STOCK)


@pytest.mark.parametrize(
    ("name", "base", "lists"),
    [
        ("coingecko", CG, {AssetClass.CRYPTO}),
        ("binance", BN, {AssetClass.CRYPTO}),
        ("coinmarketcap", CMC, {AssetClass.CRYPTO}),
        ("finnhub", FH, {AssetClass.STOCK, AssetClass.CRYPTO}),
        ("polygon", PG, {AssetClass.STOCK}),
        ("tiingo", TIINGO, {AssetClass.STOCK}),
        ("yahoo", "https://query1.finance.yahoo.com", set()),
        ("alphavantage", "https://www.alphavantage.co", set()),
        ("newsapi", "https://newsapi.org/v2", set()),
    ],
)
async def test_declared_symbol_lists_match_what_the_adapter_does(
    name: str, base: str, lists: set[AssetClass]
) -> None:
    async with adapter(name, base) as provider:
        assert provider.info.symbol_lists == lists
        for ac in set(AssetClass) - lists:
            with pytest.raises(UnsupportedError):
                await provider.symbols(ac)
