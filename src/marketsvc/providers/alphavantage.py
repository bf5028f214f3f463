"""Alpha Vantage adapter: one ``GET /query?function=...&apikey=KEY`` endpoint for everything.

The key can only travel as the ``apikey`` query parameter (the vendor has no header form).
The free tier is 25 calls a day, so the adapter never spends a call it can avoid: no symbol
list download, and a SYMBOL_SEARCH lookup only for share-class symbols (``BRK.B``), cached.
Field mapping lives in ``_alphavantage_parse``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
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
from marketsvc.errors import BadDataError, ProviderAuthError, UnsupportedError
from marketsvc.providers import _alphavantage_parse as av
from marketsvc.providers._common import BaseProvider
from marketsvc.providers._http import Params, ProviderHttp
from marketsvc.providers.base import ProviderInfo
from marketsvc.symbols import KNOWN_CRYPTO, TOP_COINS

NAME = av.NAME
COMPACT_BARS = 100  # outputsize=compact: the latest 100 bars; "full" is premium on daily
SYMBOL_TTL = 24 * 3600.0

# NEWS_SENTIMENT has no free-text search; these words map onto its documented topics.
NEWS_TOPICS = {
    "blockchain": "blockchain",
    "crypto": "blockchain",
    "earnings": "earnings",
    "ipo": "ipo",
    "mergers": "mergers_and_acquisitions",
    "markets": "financial_markets",
    "economy": "economy_macro",
    "energy": "energy_transportation",
    "finance": "finance",
    "technology": "technology",
    "tech": "technology",
    "retail": "retail_wholesale",
    "real estate": "real_estate",
    "manufacturing": "manufacturing",
    "life sciences": "life_sciences",
}


# --- request parameters (pure) ----------------------------------------------------------
def _params_quote(vendor_symbol: str, asset_class: AssetClass) -> dict[str, str]:
    if asset_class is AssetClass.CRYPTO:
        return {
            "function": "CURRENCY_EXCHANGE_RATE",
            "from_currency": vendor_symbol,
            "to_currency": "USD",
        }
    return {"function": "GLOBAL_QUOTE", "symbol": vendor_symbol}


def _params_history(
    vendor_symbol: str, asset_class: AssetClass, interval: Interval
) -> dict[str, str]:
    if asset_class is AssetClass.CRYPTO:
        if interval is Interval.DAY:
            return {"function": "DIGITAL_CURRENCY_DAILY", "symbol": vendor_symbol, "market": "USD"}
        if interval is Interval.WEEK:
            return {"function": "DIGITAL_CURRENCY_WEEKLY", "symbol": vendor_symbol, "market": "USD"}
        raise UnsupportedError(NAME, "crypto intraday (CRYPTO_INTRADAY) is premium")
    if interval is Interval.DAY:
        return {"function": "TIME_SERIES_DAILY", "symbol": vendor_symbol, "outputsize": "compact"}
    if interval is Interval.WEEK:
        return {"function": "TIME_SERIES_WEEKLY", "symbol": vendor_symbol}
    return {
        "function": "TIME_SERIES_INTRADAY",
        "symbol": vendor_symbol,
        "interval": "60min" if interval is Interval.HOUR else "1min",
        "outputsize": "compact",
        "extended_hours": "false",
    }


def _news_ticker(symbol: str) -> str:
    s = symbol.upper()
    return f"CRYPTO:{s}" if s in KNOWN_CRYPTO else (av.share_class_symbol(s) or s)


def _params_news(query: str | None, symbol: str | None, limit: int) -> dict[str, str]:
    params = {
        "function": "NEWS_SENTIMENT",
        "sort": "LATEST",
        "limit": str(max(1, min(limit, 1000))),
    }
    if symbol:
        return {**params, "tickers": _news_ticker(symbol)}
    text = (query or "").strip().lower()
    if text in NEWS_TOPICS:
        return {**params, "topics": NEWS_TOPICS[text]}
    coin = next((c.symbol for c in TOP_COINS.values() if c.name.lower() == text), None)
    if coin is not None:
        return {**params, "tickers": f"CRYPTO:{coin}"}
    if text.isalpha() and 1 <= len(text) <= 5:
        return {**params, "tickers": _news_ticker(text)}
    raise UnsupportedError(NAME, "news by free text (NEWS_SENTIMENT filters by ticker or topic)")


def _crypto_matches(query: str) -> list[SymbolMatch]:
    """SYMBOL_SEARCH covers no crypto; the built-in table answers for the top coins."""
    q = query.strip().lower()
    return [
        SymbolMatch(c.symbol, c.name, AssetClass.CRYPTO, c.symbol, NAME)
        for c in TOP_COINS.values()
        if q and (c.symbol.lower() == q or q in c.name.lower())
    ]


class AlphaVantageProvider(BaseProvider):
    info = ProviderInfo(
        name=NAME,
        asset_classes=frozenset({AssetClass.STOCK, AssetClass.CRYPTO}),
        capabilities=frozenset(
            {
                Capability.QUOTE,
                Capability.HISTORY,
                Capability.NEWS,
                Capability.FUNDAMENTALS,
                Capability.SEARCH,
            }
        ),
        max_batch=1,  # REALTIME_BULK_QUOTES is premium
        history_intervals=frozenset(Interval),
        max_bars_per_call=COMPACT_BARS,
        weights={},
        # GLOBAL_QUOTE on a free key is end-of-day/delayed data.
        quote_freshness=Freshness.DELAYED,
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
        # canonical share-class symbol → (vendor symbol, looked up at)
        self._symbols: dict[str, tuple[str, float]] = {}

    async def _call(self, params: Params, *, symbol: str | None = None) -> dict[str, Any]:
        key = self._key()
        if key is None:  # a keyless call only earns the vendor's "apikey missing" text
            raise ProviderAuthError(NAME, "no API key configured")
        resp = await self.http.get("query", {**params, "apikey": key})
        resp.raise_for_status()
        if resp.status != 200:
            raise BadDataError(NAME, f"HTTP {resp.status}: unexpected status")
        return av.classify_body(resp.json(), resp.received_at, symbol)

    async def _vendor_symbol(self, symbol: str) -> str:
        """Canonical stock symbol → Alpha Vantage's; share classes via SYMBOL_SEARCH (cached)."""
        s = symbol.upper()
        guess = av.share_class_symbol(s)
        if guess is None:
            return s
        cached = self._symbols.get(s)
        now = self._clock()
        if cached is not None and now - cached[1] < SYMBOL_TTL:
            return cached[0]
        body = await self._call({"function": "SYMBOL_SEARCH", "keywords": s})
        found = next((m for m in av.parse_search(body) if m.symbol == s), None)
        vendor = found.provider_symbol if found else guess
        self._symbols[s] = (vendor, now)
        return vendor

    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        self._check_asset_class(asset_class)
        s = symbol.upper()
        if asset_class is AssetClass.CRYPTO:
            body = await self._call(_params_quote(s, asset_class), symbol=s)
            return av.parse_exchange_rate(body, s)
        vendor = await self._vendor_symbol(s)
        body = await self._call(_params_quote(vendor, asset_class), symbol=s)
        return av.parse_global_quote(body, s, vendor, self._clock())

    async def history(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[Candle]:
        self._check_asset_class(asset_class)
        s = symbol.upper()
        vendor = s if asset_class is AssetClass.CRYPTO else await self._vendor_symbol(s)
        body = await self._call(_params_history(vendor, asset_class, interval), symbol=s)
        candles = av.parse_series(body, weekly=interval is Interval.WEEK)
        return [c for c in candles if start <= c.ts < end][: self.info.max_bars_per_call]

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        body = await self._call(_params_news(query, symbol, limit), symbol=symbol)
        return av.parse_news(body)[:limit]

    async def fundamentals(self, symbol: str) -> Fundamentals:
        s = symbol.upper()
        vendor = await self._vendor_symbol(s)
        body = await self._call({"function": "OVERVIEW", "symbol": vendor}, symbol=s)
        return av.parse_overview(body, s)

    async def search(self, query: str) -> list[SymbolMatch]:
        body = await self._call({"function": "SYMBOL_SEARCH", "keywords": query})
        return _crypto_matches(query) + av.parse_search(body)

    async def health(self) -> None:
        # Every call costs one of the 25 daily; GLOBAL_QUOTE is the smallest answer.
        await self.quote("IBM", AssetClass.STOCK)
