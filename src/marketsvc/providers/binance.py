"""Binance spot market data (keyless): 24h tickers, klines and the exchangeInfo symbol list.

Symbol mapping: ``BTC`` → ``BTCUSDT``. Until exchangeInfo has been fetched, top coins map
through the built-in table (no call); any other symbol, and any table guess Binance rejects
with -1121 (delisted pairs such as MATICUSDT), is resolved through ``/api/v3/exchangeInfo``
(weight 20, cached for 24 h), preferring a TRADING pair quoted in USDT, then USDC, then FDUSD.
Once the list is cached it is authoritative, so unknown symbols cost no ticker call.

Batches: Binance rejects a whole ``symbols=[...]`` call with -1121 when one pair is invalid and
does not say which. So unlisted symbols are dropped before the call whenever exchangeInfo is
cached or needed anyway (a symbol outside the table); if the call is still rejected (a stale
table guess or list), the adapter re-checks every pair against exchangeInfo (reloaded unless
fetched in the last minute), answers ``SymbolNotFoundError`` for the unlisted ones and retries
once with the rest; a second rejection (or one exchangeInfo cannot explain) is BadDataError.
These extra calls are visible in ``used_weight_1m``, read from ``X-MBX-USED-WEIGHT-1M`` on
every answer so the planner and stats can see Binance's own count of the minute's weight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from marketsvc.config import ProviderSettings
from marketsvc.domain import (
    AssetClass,
    Candle,
    Capability,
    Freshness,
    Interval,
    Quote,
    SymbolMatch,
)
from marketsvc.errors import BadDataError, ProviderError, SymbolNotFoundError, UnsupportedError
from marketsvc.providers._binance_parse import (
    KLINE_INTERVALS,
    NAME,
    Listing,
    index_tickers,
    listing_matches,
    parse_exchange_info,
    parse_klines,
    parse_ticker,
    raise_for_binance,
    search_listing,
    symbols_param,
    table_pair,
    used_weight,
)
from marketsvc.providers._common import BaseProvider
from marketsvc.providers._http import Params, ProviderHttp, require
from marketsvc.providers.base import ProviderInfo

T = TypeVar("T")

MAX_BATCH = 100
MAX_BARS = 1000
LISTING_TTL = 24 * 3600.0
# After a -1121 the cached exchangeInfo may be stale; reload it unless it is this fresh.
RELOAD_AFTER_REJECT = 60.0


def quotes_weight(count: int) -> int:
    """``/api/v3/ticker/24hr?symbols=`` weighs 2 for 1–20 symbols, 40 for 21–100, 80 above."""
    if count <= 20:
        return 2
    return 40 if count <= 100 else 80


def _ms(dt: datetime) -> int:
    aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def _params_quote(pair: str) -> Params:
    return {"symbol": pair}


def _params_quotes(pairs: Sequence[str]) -> Params:
    return {"symbols": symbols_param(dict.fromkeys(pairs))}


def _params_klines(pair: str, interval: str, start: datetime, end: datetime) -> Params:
    # Binance selects klines by open time within [startTime, endTime] (both inclusive), so
    # endTime is one millisecond before the exclusive ``end``.
    return {
        "symbol": pair,
        "interval": interval,
        "startTime": _ms(start),
        "endTime": _ms(end) - 1,
        "limit": MAX_BARS,
    }


class BinanceProvider(BaseProvider):
    info = ProviderInfo(
        name=NAME,
        asset_classes=frozenset({AssetClass.CRYPTO}),
        capabilities=frozenset(
            {Capability.QUOTE, Capability.BATCH_QUOTE, Capability.HISTORY, Capability.SEARCH}
        ),
        max_batch=MAX_BATCH,
        history_intervals=frozenset(KLINE_INTERVALS),
        max_bars_per_call=MAX_BARS,
        weights={
            "quote": 2,
            "quotes": 2,
            "history": 2,
            "search": 20,
            "symbols": 20,
            "health": 1,
        },
        lookup_weight=20,  # exchangeInfo, fetched inside a quote when a symbol is unmapped
        quote_freshness=Freshness.REALTIME,
        symbol_lists=frozenset({AssetClass.CRYPTO}),
    )

    def __init__(
        self,
        settings: ProviderSettings,
        http: ProviderHttp,
        *,
        clock: Callable[[], float] = time.time,
        listing_ttl: float = LISTING_TTL,
    ) -> None:
        super().__init__(settings, http)
        self._clock = clock
        self._listing_ttl = listing_ttl
        self._listing: Listing | None = None
        self._listing_lock = asyncio.Lock()
        # Binance's own count of this IP's request weight in the current minute, from the
        # last answer's X-MBX-USED-WEIGHT-1M (None until an answer carried it).
        self.used_weight_1m: int | None = None
        self.used_weight_at: float | None = None

    def weight(self, operation: str, count: int = 1) -> int:
        if operation == "quotes":
            return quotes_weight(count)
        return super().weight(operation, count)

    # Operations --------------------------------------------------------------------------
    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        self._check_asset_class(asset_class)
        sym = symbol.upper()

        async def fetch(pair: str) -> Quote:
            body = await self._get(
                "api/v3/ticker/24hr", _params_quote(pair), pair, self.weight("quote")
            )
            return parse_ticker(body, sym)

        return await self._on_pair(sym, fetch)

    async def quotes(
        self, symbols: Sequence[str], asset_class: AssetClass
    ) -> Mapping[str, Quote | ProviderError]:
        self._check_asset_class(asset_class)
        out: dict[str, Quote | ProviderError] = {}
        pairs: dict[str, str] = {}  # requested symbol → pair
        if self._cached_listing() is None and any(table_pair(s.upper()) is None for s in symbols):
            # exchangeInfo is needed anyway: let it check the table's guesses too.
            await self._load_listing(self._listing_ttl)
        for symbol in symbols:
            try:
                pairs[symbol] = (await self._resolve(symbol.upper()))[0]
            except SymbolNotFoundError as exc:
                out[symbol] = exc
        try:
            rows = await self._fetch_tickers(pairs.values())
        except SymbolNotFoundError as exc:
            listing = await self._load_listing(RELOAD_AFTER_REJECT)
            checked: dict[str, str] = {}
            for symbol in pairs:
                alt = listing.pair_for(symbol.upper())
                if alt is None:
                    out[symbol] = SymbolNotFoundError(NAME, symbol.upper())
                else:
                    checked[symbol] = alt
            if checked == pairs:
                raise BadDataError(
                    NAME, "batch rejected with code -1121 though exchangeInfo lists every pair"
                ) from exc
            pairs = checked
            try:
                rows = await self._fetch_tickers(pairs.values())
            except SymbolNotFoundError as again:
                raise BadDataError(NAME, "batch rejected with code -1121 twice") from again
        for symbol, pair in pairs.items():
            row = rows.get(pair)
            if row is None:
                out[symbol] = SymbolNotFoundError(NAME, symbol.upper())
                continue
            try:
                out[symbol] = parse_ticker(row, symbol.upper())
            except BadDataError as exc:
                out[symbol] = exc
        return out

    async def history(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[Candle]:
        self._check_asset_class(asset_class)
        code = KLINE_INTERVALS.get(interval)
        if code is None:
            raise UnsupportedError(NAME, f"interval {interval.value} is not offered")
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
        if end <= start:
            return []

        async def fetch(pair: str) -> list[Candle]:
            params = _params_klines(pair, code, start, end)
            body = await self._get("api/v3/klines", params, pair, self.weight("history"))
            return parse_klines(body, start, end, MAX_BARS)

        return await self._on_pair(symbol.upper(), fetch)

    async def search(self, query: str) -> list[SymbolMatch]:
        return search_listing(await self._load_listing(self._listing_ttl), query)

    async def symbols(self, asset_class: AssetClass) -> list[SymbolMatch]:
        """exchangeInfo (weight 20): the coins with a stablecoin-quoted TRADING pair. A fresh
        copy unless one was fetched in the last minute; it also renews the adapter's map."""
        self._check_asset_class(asset_class)
        return listing_matches(await self._load_listing(RELOAD_AFTER_REJECT))

    async def health(self) -> None:
        body = await self._get("api/v3/ping")
        require(NAME, isinstance(body, dict), "ping answer is not an object")

    # Glue ----------------------------------------------------------------------------------
    async def _get(
        self, path: str, params: Params | None = None, pair: str | None = None, cost: int = 1
    ) -> Any:
        resp = await self.http.get(path, params, weight=cost)
        weight = used_weight(resp.headers)
        if weight is not None:
            self.used_weight_1m = weight
            self.used_weight_at = self._clock()
        raise_for_binance(resp, pair)
        return resp.json()

    async def _fetch_tickers(self, pairs: Iterable[str]) -> dict[str, Any]:
        wanted = list(pairs)
        if not wanted:
            return {}
        cost = quotes_weight(len(wanted))
        body = await self._get("api/v3/ticker/24hr", _params_quotes(wanted), cost=cost)
        return index_tickers(body)

    def _cached_listing(self) -> Listing | None:
        listing = self._listing
        if listing is None or self._clock() - listing.loaded_at >= self._listing_ttl:
            return None
        return listing

    async def _load_listing(self, max_age: float) -> Listing:
        """The cached exchangeInfo if younger than ``max_age``, else a fresh one (one fetch
        however many callers wait for it)."""
        async with self._listing_lock:
            listing = self._listing
            if listing is not None and self._clock() - listing.loaded_at < max_age:
                return listing
            body = await self._get("api/v3/exchangeInfo", cost=self.info.lookup_weight)
            self._listing = parse_exchange_info(body, self._clock())
            return self._listing

    async def _resolve(self, symbol: str) -> tuple[str, bool]:
        """(pair, guessed): guessed means the table's pair, not confirmed by exchangeInfo."""
        listing = self._cached_listing()
        guess = table_pair(symbol)
        if listing is None and guess is not None:
            return guess, True
        listing = listing or await self._load_listing(self._listing_ttl)
        pair = listing.pair_for(symbol)
        if pair is None:
            raise SymbolNotFoundError(NAME, symbol)
        return pair, False

    async def _on_pair(self, symbol: str, fetch: Callable[[str], Awaitable[T]]) -> T:
        """Run ``fetch`` on the symbol's pair; on -1121 consult exchangeInfo once (the guess
        may be delisted, or the cached list stale) and retry if it names another pair."""
        pair, _ = await self._resolve(symbol)
        try:
            return await fetch(pair)
        except SymbolNotFoundError as exc:
            listing = await self._load_listing(RELOAD_AFTER_REJECT)
            alt = listing.pair_for(symbol)
            if alt is None or alt == pair:
                raise SymbolNotFoundError(NAME, symbol) from exc
        try:
            return await fetch(alt)
        except SymbolNotFoundError as exc:
            raise SymbolNotFoundError(NAME, symbol) from exc
