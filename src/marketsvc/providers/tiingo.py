"""Tiingo adapter (where many IEX Cloud users went after IEX Cloud closed on 2024-08-31).

Stocks: IEX top-of-book for quotes (``/iex?tickers=a,b`` is the batch), ``/tiingo/daily`` for
end-of-day and weekly bars and metadata, ``/iex/{ticker}/prices`` for intraday bars. Crypto:
``/tiingo/crypto/top`` and ``/tiingo/crypto/prices`` with ``btcusd``-style tickers. The token
travels in the ``Authorization: Token`` header, never in a URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from marketsvc.config import ProviderSettings
from marketsvc.domain import (
    Article,
    AssetClass,
    Candle,
    Capability,
    Freshness,
    Fundamentals,
    Interval,
    Quote,
    SymbolMatch,
)
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.providers import _tiingo_parse as wire
from marketsvc.providers._common import BaseProvider
from marketsvc.providers._http import Params, ProviderHttp, path_segment
from marketsvc.providers.base import ProviderInfo
from marketsvc.symbols import TOP_COINS, resolve

# Lookups are refreshed after a day; each one also counts toward the monthly symbol quota.
SYMBOL_CACHE_SECONDS = 24 * 3600.0


class TiingoProvider(BaseProvider):
    info = ProviderInfo(
        name=wire.NAME,
        asset_classes=frozenset({AssetClass.STOCK, AssetClass.CRYPTO}),
        capabilities=frozenset(Capability),
        # UNVERIFIED: no documented maximum for ``tickers=``; 100 keeps URLs short.
        max_batch=100,
        history_intervals=frozenset(Interval),
        # UNVERIFIED: Tiingo documents no row cap; the history store pages by this.
        max_bars_per_call=10_000,
        quote_freshness=Freshness.NEAR_REALTIME,
        authoritative_not_found=frozenset({AssetClass.STOCK}),
        symbol_lists=frozenset({AssetClass.STOCK}),
    )

    def __init__(
        self,
        settings: ProviderSettings,
        http: ProviderHttp,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, http)
        self._monotonic = monotonic
        # canonical crypto base → (vendor ticker or None when unknown, looked up at)
        self._crypto_tickers: dict[str, tuple[str | None, float]] = {}

    # --- plumbing ------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        key = self._key()
        if key is None:
            raise ProviderAuthError(self.name, "no API token configured")
        return {"Authorization": f"Token {key}"}

    async def _get(
        self, path: str, params: Params | None = None, *, symbol: str | None = None
    ) -> Any:
        resp = await self.http.get(path, params, self._headers())
        return wire.check(resp, symbol)

    async def _ticker(self, symbol: str, asset_class: AssetClass) -> str:
        inst = resolve(symbol, asset_class)
        if asset_class is AssetClass.STOCK:
            return wire.stock_ticker(inst.symbol)
        base = inst.symbol
        if base in TOP_COINS:
            return wire.crypto_ticker(base)
        now = self._monotonic()
        cached = self._crypto_tickers.get(base)
        if cached is None or now - cached[1] >= SYMBOL_CACHE_SECONDS:
            candidate = wire.crypto_ticker(base)
            payload = await self._get(wire.CRYPTO_META, {"tickers": candidate})
            cached = (candidate if wire.crypto_known(payload, candidate) else None, now)
            self._crypto_tickers[base] = cached
        if cached[0] is None:
            raise SymbolNotFoundError(self.name, symbol)
        return cached[0]

    # --- capabilities --------------------------------------------------------------------
    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        result = (await self.quotes([symbol], asset_class))[symbol]
        if isinstance(result, ProviderError):
            raise result
        return result

    async def quotes(
        self, symbols: Sequence[str], asset_class: AssetClass
    ) -> Mapping[str, Quote | ProviderError]:
        self._check_asset_class(asset_class)
        out: dict[str, Quote | ProviderError] = {}
        tickers: dict[str, str] = {}
        for symbol in symbols:
            try:
                tickers[symbol] = await self._ticker(symbol, asset_class)
            except SymbolNotFoundError as exc:
                out[symbol] = exc
        stock = asset_class is AssetClass.STOCK
        path = wire.IEX if stock else wire.CRYPTO_TOP
        unique = list(dict.fromkeys(tickers.values()))
        rows: dict[str, dict[str, Any]] = {}
        # A 404 can only blame the symbol when there is one.
        lone = symbols[0] if len(symbols) == 1 else None
        # ``/iex`` without tickers answers every symbol: never send an empty list.
        for i in range(0, len(unique), self.info.max_batch):
            chunk = ",".join(unique[i : i + self.info.max_batch])
            payload = await self._get(path, {"tickers": chunk}, symbol=lone)
            rows.update(wire.rows_by_ticker(payload, "quotes"))
        for symbol, ticker in tickers.items():
            row = rows.get(ticker)
            if row is None:
                out[symbol] = SymbolNotFoundError(self.name, symbol)
                continue
            try:
                parse = wire.parse_iex_quote if stock else wire.parse_crypto_top
                out[symbol] = parse(row, symbol)
            except BadDataError as exc:
                out[symbol] = exc
        return {symbol: out[symbol] for symbol in symbols}

    async def history(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[Candle]:
        self._check_asset_class(asset_class)
        if start >= end:
            return []
        if asset_class is AssetClass.CRYPTO and interval not in wire.CRYPTO_FREQ:
            raise self._unsupported(f"crypto {interval.value} bars")
        ticker = await self._ticker(symbol, asset_class)
        segment = path_segment(ticker)
        if asset_class is AssetClass.CRYPTO:
            params = wire.params_crypto_prices(ticker, interval, start, end)
            payload = await self._get(wire.CRYPTO_PRICES, params)
            candles = wire.parse_crypto_bars(payload, ticker)
        elif interval in wire.INTRADAY_FREQ:
            params = wire.params_intraday(interval, start, end)
            payload = await self._get(f"iex/{segment}/prices", params, symbol=symbol)
            candles = wire.parse_bars(payload)
        else:
            params = wire.params_eod(interval, start, end)
            payload = await self._get(f"tiingo/daily/{segment}/prices", params, symbol=symbol)
            candles = wire.parse_bars(payload)
        return wire.bars_in_range(candles, start, end, self.info.max_bars_per_call)

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        ticker: str | None = None
        if symbol is not None:
            inst = resolve(symbol)
            # UNVERIFIED: crypto stories are assumed to be tagged with ``btcusd``-style tickers.
            ticker = await self._ticker(inst.symbol, inst.asset_class)
        elif query:
            # The news endpoint filters by tickers, tags and sources; there is no text search.
            raise self._unsupported("news search by free text")
        payload = await self._get(wire.NEWS, wire.params_news(ticker, limit))
        return wire.parse_news(payload)[: max(limit, 0)]

    async def fundamentals(self, symbol: str) -> Fundamentals:
        inst = resolve(symbol)
        if inst.asset_class is AssetClass.CRYPTO:
            raise self._unsupported("crypto fundamentals")
        segment = path_segment(wire.stock_ticker(inst.symbol))
        payload = await self._get(f"tiingo/daily/{segment}", symbol=symbol)
        return wire.parse_meta(payload, symbol)

    async def search(self, query: str) -> list[SymbolMatch]:
        return wire.parse_search(await self._get(wire.SEARCH, {"query": query}))

    async def symbols(self, asset_class: AssetClass) -> list[SymbolMatch]:
        """The supported-tickers zip. It lives on Tiingo's media host and needs no key, so
        none is sent there; a configured base URL other than Tiingo's own (a proxy, the
        emulator) is asked for it under its own root instead."""
        self._check_asset_class(asset_class)
        if asset_class is not AssetClass.STOCK:
            raise UnsupportedError(self.name, "the symbol list covers stocks only")
        default = urlsplit(self.settings.base_url).hostname == "api.tiingo.com"
        url = wire.SUPPORTED_TICKERS_URL if default else wire.SUPPORTED_TICKERS_PATH
        resp = await self.http.get(url)
        if resp.status != 200 and wire.is_quota_message(resp.text):
            wire.check(resp)  # the quota answers' own mapping
        resp.raise_for_status()
        return wire.parse_supported_tickers(resp.body)

    async def health(self) -> None:
        await self._get(wire.HEALTH)
