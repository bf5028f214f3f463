"""Massive (ex-Polygon.io) adapter: stocks and crypto (``X:BTCUSD``).

Free keys get end-of-day/delayed data and 5 calls a minute; snapshots are believed to need a
paid plan, so a single quote uses the previous-day aggregate (declared DELAYED) and only the
batch quote uses the snapshot endpoint. The key travels in the ``Authorization: Bearer``
header, never in a URL (``next_url`` pages are fetched with the same header).
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
from marketsvc.providers import _polygon_parse as wire
from marketsvc.providers._common import BaseProvider
from marketsvc.providers._http import Params, ProviderHttp, path_segment
from marketsvc.providers.base import ProviderInfo
from marketsvc.symbols import TOP_COINS, resolve

# A symbol lookup is refreshed after a day: listings change rarely and a call costs 1/5 of a
# free key's minute.
SYMBOL_CACHE_SECONDS = 24 * 3600.0
# next_url pages followed by one history call at most (each page is a rate-limited call).
MAX_HISTORY_PAGES = 10
# Pages of 1,000 one symbol-list fetch follows at most: ~12,000 active US tickers today, and
# at 5 calls a minute on a free key the fetch already takes minutes (at LOW priority).
MAX_LIST_PAGES = 20
_DEFAULT_PORTS = {"http": 80, "https": 443}


class PolygonProvider(BaseProvider):
    info = ProviderInfo(
        name=wire.NAME,
        asset_classes=frozenset({AssetClass.STOCK, AssetClass.CRYPTO}),
        capabilities=frozenset(Capability),
        max_batch=250,
        history_intervals=frozenset(Interval),
        max_bars_per_call=5000,
        quote_freshness=Freshness.DELAYED,
        authoritative_not_found=frozenset({AssetClass.STOCK}),
        # Crypto is left to the crypto venues' lists: each page here is 1/5 of a free minute.
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
            raise ProviderAuthError(self.name, "no API key configured")
        return {"Authorization": f"Bearer {key}"}

    async def _get(
        self, path: str, params: Params | None = None, *, symbol: str | None = None
    ) -> dict[str, Any]:
        resp = await self.http.get(path, params, self._headers())
        return wire.check(resp, symbol)

    def _same_origin(self, url: str) -> bool:
        """A ``next_url`` is followed only on the configured host, so the Bearer key can
        never be sent anywhere else."""
        base, link = urlsplit(self.settings.base_url), urlsplit(url)

        def origin(parts: Any) -> tuple[str, str, int | None]:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
            return parts.scheme, (parts.hostname or "").lower(), port

        return origin(base) == origin(link) and link.path.startswith(base.path.rstrip("/") + "/")

    async def _ticker(self, symbol: str, asset_class: AssetClass) -> str:
        inst = resolve(symbol, asset_class)
        if asset_class is AssetClass.STOCK:
            return inst.symbol
        base = inst.symbol
        if base in TOP_COINS:
            return wire.crypto_ticker(base)
        now = self._monotonic()
        cached = self._crypto_tickers.get(base)
        if cached is None or now - cached[1] >= SYMBOL_CACHE_SECONDS:
            candidate = wire.crypto_ticker(base)
            payload = await self._get(wire.TICKERS, wire.params_crypto_lookup(candidate))
            found = candidate if wire.lookup_found(payload, candidate) else None
            cached = (found, now)
            self._crypto_tickers[base] = cached
        if cached[0] is None:
            raise SymbolNotFoundError(self.name, symbol)
        return cached[0]

    # --- capabilities --------------------------------------------------------------------
    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        self._check_asset_class(asset_class)
        ticker = await self._ticker(symbol, asset_class)
        payload = await self._get(
            f"v2/aggs/ticker/{path_segment(ticker)}/prev", {"adjusted": "true"}, symbol=symbol
        )
        return wire.parse_prev(payload, symbol, asset_class)

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
        path = wire.STOCK_SNAPSHOT if asset_class is AssetClass.STOCK else wire.CRYPTO_SNAPSHOT
        unique = list(dict.fromkeys(tickers.values()))
        rows: dict[str, dict[str, Any]] = {}
        # An empty ``tickers=`` would mean "every ticker": never send one.
        for i in range(0, len(unique), self.info.max_batch):
            chunk = unique[i : i + self.info.max_batch]
            rows.update(wire.snapshot_rows(await self._get(path, {"tickers": ",".join(chunk)})))
        for symbol, ticker in tickers.items():
            row = rows.get(ticker)
            if row is None:
                out[symbol] = SymbolNotFoundError(self.name, symbol)
                continue
            try:
                out[symbol] = wire.parse_snapshot(row, symbol, asset_class)
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
        ticker = await self._ticker(symbol, asset_class)
        url = wire.history_path(ticker, interval, start, end)
        params: Params | None = wire.params_history()
        candles: dict[datetime, Candle] = {}
        for _ in range(MAX_HISTORY_PAGES):
            page, next_url = wire.parse_aggs(await self._get(url, params))
            candles.update((c.ts, c) for c in page if start <= c.ts < end)
            if next_url is None or len(candles) >= self.info.max_bars_per_call:
                break
            if not self._same_origin(next_url):
                raise BadDataError(self.name, "pagination link points to another host")
            url, params = next_url, None  # the link carries its own cursor
        ordered = sorted(candles.values(), key=lambda c: c.ts)
        return ordered[: self.info.max_bars_per_call]

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        ticker: str | None = None
        if symbol is not None:
            inst = resolve(symbol)
            if inst.asset_class is AssetClass.CRYPTO:
                raise self._unsupported("crypto news")
            ticker = inst.symbol
        elif query:
            # The news endpoint filters by ticker only; there is no free-text search.
            raise self._unsupported("news search by free text")
        payload = await self._get(wire.NEWS, wire.params_news(ticker, limit))
        return wire.parse_news(payload)[: max(limit, 0)]

    async def fundamentals(self, symbol: str) -> Fundamentals:
        inst = resolve(symbol)
        if inst.asset_class is AssetClass.CRYPTO:
            raise self._unsupported("crypto fundamentals")
        payload = await self._get(f"{wire.TICKERS}/{path_segment(inst.symbol)}", symbol=symbol)
        return wire.parse_details(payload, symbol)

    async def search(self, query: str) -> list[SymbolMatch]:
        return wire.parse_search(await self._get(wire.TICKERS, wire.params_search(query)))

    async def symbols(self, asset_class: AssetClass) -> list[SymbolMatch]:
        """``/v3/reference/tickers?market=stocks&active=true`` page by page (``next_url``,
        same host only, so the key never leaves it)."""
        self._check_asset_class(asset_class)
        if asset_class is not AssetClass.STOCK:
            raise UnsupportedError(self.name, "the symbol list covers stocks only")
        url: str = wire.TICKERS
        params: Params | None = wire.params_list("stocks")
        out: dict[str, SymbolMatch] = {}
        for _ in range(MAX_LIST_PAGES):
            payload = await self._get(url, params)
            for match in wire.parse_search(payload):
                out.setdefault(match.symbol, match)
            link = wire.next_url(payload)
            if link is None:
                break
            if not self._same_origin(link):
                raise BadDataError(self.name, "pagination link points to another host")
            url, params = link, None  # the cursor carries the filters
        return list(out.values())

    async def health(self) -> None:
        # The cheapest call a free key may make: one row of the reference list.
        await self._get(wire.TICKERS, {"limit": 1})
