"""Finnhub adapter: US stocks and crypto (as ``BINANCE:<SYM>USDT``) over https://finnhub.io/api/v1.

The key travels in the ``X-Finnhub-Token`` header so it never sits in a URL. Field mapping and
error quirks live in ``_finnhub_parse``; this module is the thin async glue plus symbol mapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

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
    InvalidInputError,
    ProviderAuthError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.providers import _finnhub_parse as fp
from marketsvc.providers._common import BaseProvider
from marketsvc.providers._http import Params, ProviderHttp
from marketsvc.providers.base import ProviderInfo
from marketsvc.symbols import TOP_COINS, Instrument, resolve

# Pairs that are not BINANCE:<SYM>USDT (Binance has no USDT/USDT market).
PAIR_OVERRIDES: dict[str, str] = {"USDT": "COINBASE:USDT-USD"}
SYMBOL_LIST_TTL = 24 * 3600.0
# Finnhub allows at most one month of intraday bars per candle call; 720 hourly bars are 30
# days, and the same cap keeps minute pages to 12 hours.
MAX_BARS = 720


def table_pair(symbol: str) -> str | None:
    """The built-in mapping for the top coins; None means "ask Finnhub's symbol list"."""
    if symbol in PAIR_OVERRIDES:
        return PAIR_OVERRIDES[symbol]
    return f"BINANCE:{symbol}USDT" if symbol in TOP_COINS else None


def _instrument(symbol: str, asset_class: AssetClass | None = None) -> Instrument:
    try:
        return resolve(symbol, asset_class)
    except InvalidInputError:
        raise SymbolNotFoundError(fp.NAME, symbol) from None


class FinnhubProvider(BaseProvider):
    info = ProviderInfo(
        name=fp.NAME,
        asset_classes=frozenset({AssetClass.STOCK, AssetClass.CRYPTO}),
        capabilities=frozenset(
            {
                Capability.QUOTE,
                Capability.HISTORY,  # premium on free keys: 403 → ProviderAuthError
                Capability.NEWS,
                Capability.FUNDAMENTALS,
                Capability.SEARCH,
            }
        ),
        max_batch=1,  # no batch quote endpoint
        history_intervals=frozenset(fp.RESOLUTIONS),
        max_bars_per_call=MAX_BARS,
        weights={"fundamentals": 2},  # profile2 + metric
        quote_freshness=Freshness.REALTIME,
        authoritative_not_found=frozenset({AssetClass.STOCK}),
        symbol_lists=frozenset({AssetClass.STOCK, AssetClass.CRYPTO}),
    )

    def __init__(
        self,
        settings: ProviderSettings,
        http: ProviderHttp,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, http)
        self._clock = clock
        self._pairs: dict[str, str] = {}
        self._pairs_loaded_at: float | None = None
        self._pairs_lock = asyncio.Lock()

    # Plumbing --------------------------------------------------------------------------
    async def _get(self, path: str, params: Params) -> Any:
        key = self._key()
        headers = {"X-Finnhub-Token": key} if key else {}
        return fp.checked_json(await self.http.get(path, params, headers))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), tz=UTC)

    async def vendor_symbol(self, symbol: str, asset_class: AssetClass) -> str:
        """``AAPL`` → ``AAPL``; ``BTC`` → ``BINANCE:BTCUSDT`` (table, then the cached
        ``/crypto/symbol?exchange=binance`` list, refreshed after 24 h)."""
        s = symbol.upper()
        if asset_class is AssetClass.STOCK or ":" in s:
            return s
        base = _instrument(s, AssetClass.CRYPTO).symbol  # BTC-USD, BTC/USDT → BTC
        pair = table_pair(base)
        if pair is not None:
            return pair
        async with self._pairs_lock:
            loaded = self._pairs_loaded_at
            if loaded is None or self._clock() - loaded > SYMBOL_LIST_TTL:
                body = await self._get("crypto/symbol", {"exchange": "binance"})
                self._pairs = fp.parse_crypto_symbols(body)
                self._pairs_loaded_at = self._clock()
        if base not in self._pairs:
            raise SymbolNotFoundError(fp.NAME, symbol)
        return self._pairs[base]

    # Operations ------------------------------------------------------------------------
    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        self._check_asset_class(asset_class)
        vendor = await self.vendor_symbol(symbol, asset_class)
        body = await self._get("quote", {"symbol": vendor})
        return fp.parse_quote(body, symbol.upper(), asset_class, self._now())

    async def history(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[Candle]:
        self._check_asset_class(asset_class)
        if interval not in fp.RESOLUTIONS:
            raise UnsupportedError(fp.NAME, f"{interval.value} bars are not offered")
        first = math.floor(start.timestamp())
        stop = min(math.ceil(end.timestamp()), first + MAX_BARS * interval.seconds)
        if stop <= first:
            return []
        vendor = await self.vendor_symbol(symbol, asset_class)
        path = "crypto/candle" if asset_class is AssetClass.CRYPTO else "stock/candle"
        body = await self._get(path, fp.params_candles(vendor, interval, first, stop))
        return fp.parse_candles(body, first, stop, MAX_BARS)

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        """Company news for a stock; Finnhub's crypto feed filtered to a coin; a market-news
        category by name. Finnhub has no free-text search, so other queries are unsupported
        (the chain moves on to a provider that has one)."""
        limit = max(1, limit)
        if symbol:
            instrument = _instrument(symbol)
            if instrument.asset_class is AssetClass.STOCK:
                params = fp.params_company_news(instrument.symbol, self._now().date())
                return fp.parse_news(await self._get("company-news", params), limit)
            return await self._crypto_news(instrument.symbol, limit)
        if not query:
            return fp.parse_news(await self._get("news", {"category": "general"}), limit)
        wanted = query.strip().lower()
        if wanted in fp.NEWS_CATEGORIES:
            return fp.parse_news(await self._get("news", {"category": wanted}), limit)
        for coin in TOP_COINS.values():
            if wanted in (coin.symbol.lower(), coin.name.lower()):
                return await self._crypto_news(coin.symbol, limit)
        raise UnsupportedError(fp.NAME, "free-text news search is not offered")

    async def _crypto_news(self, coin: str, limit: int) -> list[Article]:
        known = TOP_COINS.get(coin)
        about = fp.mentions((coin, known.name) if known else (coin,))
        return fp.parse_news(await self._get("news", {"category": "crypto"}), limit, about)

    async def fundamentals(self, symbol: str) -> Fundamentals:
        s = symbol.upper()
        profile = await self._get("stock/profile2", {"symbol": s})
        if profile == {}:
            raise SymbolNotFoundError(fp.NAME, s)  # {} for unknown symbols: skip the 2nd call
        metrics: Any = None
        # Key figures outside the plan: the profile alone is still an answer.
        with contextlib.suppress(ProviderAuthError):
            metrics = await self._get("stock/metric", {"symbol": s, "metric": "all"})
        return fp.parse_fundamentals(s, profile, metrics)

    async def search(self, query: str) -> list[SymbolMatch]:
        return fp.parse_search(await self._get("search", {"q": query}))

    async def symbols(self, asset_class: AssetClass) -> list[SymbolMatch]:
        """Stocks: ``/stock/symbol?exchange=US`` (every US ticker, one answer). Crypto: the
        Binance pairs of ``/crypto/symbol?exchange=binance``, which also renews the
        adapter's coin → pair map."""
        self._check_asset_class(asset_class)
        if asset_class is AssetClass.STOCK:
            return fp.parse_stock_symbols(await self._get("stock/symbol", {"exchange": "US"}))
        async with self._pairs_lock:
            body = await self._get("crypto/symbol", {"exchange": "binance"})
            self._pairs = fp.parse_crypto_symbols(body)
            self._pairs_loaded_at = self._clock()
            pairs = dict(self._pairs)
        return [
            SymbolMatch(base, base, AssetClass.CRYPTO, vendor, fp.NAME)
            for base, vendor in sorted(pairs.items())
        ]

    async def health(self) -> None:
        await self.quote("AAPL", AssetClass.STOCK)
