"""Yahoo Finance adapter (unofficial, keyless).

Single quotes and history come from ``/v8/finance/chart/{symbol}``, which needs no crumb.
Batch quotes (``/v7/finance/quote``) and fundamentals (``/v10/finance/quoteSummary``) need a
cookie plus a crumb: the adapter primes the cookie (``cookie_url``), reads the crumb from
``v1/test/getcrumb``, caches it, and refreshes it once when Yahoo answers 401. Search and news
share ``/v1/finance/search``. Field mapping lives in ``_yahoo_parse``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
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
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers import _yahoo_parse as yp
from marketsvc.providers._common import BaseProvider
from marketsvc.providers._http import Params, ProviderHttp, path_segment
from marketsvc.providers.base import ProviderInfo
from marketsvc.symbols import KNOWN_CRYPTO

NAME = yp.NAME
DEFAULT_COOKIE_URL = "https://fc.yahoo.com"
MAX_BATCH = 50  # the real cap is undocumented (UNVERIFIED); 50 keeps URLs short
MAX_BARS = 5000  # 1m history is limited to ~8 days per request; 5000 minutes fits
SYMBOL_TTL = 24 * 3600.0
SUMMARY_MODULES = "assetProfile,summaryDetail,price,defaultKeyStatistics"


# --- request parameters (pure) ----------------------------------------------------------
def _params_quote() -> dict[str, str]:
    # One daily bar is the smallest chart answer whose meta carries price and previous close.
    return {"range": "1d", "interval": "1d", "includePrePost": "false"}


def _params_history(
    interval: Interval, start: datetime, end: datetime, now: float
) -> dict[str, str]:
    # Yahoo refuses 1m bars older than 30 days and 60m bars older than 730 days (422), so the
    # window starts no earlier than it serves; it spans at most one call's worth of bars.
    oldest = {Interval.MINUTE: 29 * 86400, Interval.HOUR: 729 * 86400}.get(interval)
    first = max(start.timestamp(), now - oldest) if oldest else start.timestamp()
    stop = min(end.timestamp(), first + MAX_BARS * interval.seconds)
    return {
        "period1": str(int(first)),
        "period2": str(int(stop)),
        "interval": yp.CHART_INTERVALS[interval],
        "includePrePost": "false",
    }


def _params_search(query: str, *, quotes: int, news: int) -> dict[str, str]:
    return {
        "q": query,
        "quotesCount": str(quotes),
        "newsCount": str(news),
        "enableFuzzyQuery": "false",
    }


def _default_cookie_url(base_url: str) -> str | None:
    # Priming only makes sense against Yahoo itself; against the sandbox or a proxy the
    # crumb endpoint is asked directly.
    host = urlsplit(base_url).hostname or ""
    return DEFAULT_COOKIE_URL if host.endswith("yahoo.com") else None


class YahooProvider(BaseProvider):
    info = ProviderInfo(
        name=NAME,
        asset_classes=frozenset({AssetClass.STOCK, AssetClass.CRYPTO}),
        capabilities=frozenset(Capability),
        max_batch=MAX_BATCH,
        history_intervals=frozenset(Interval),
        max_bars_per_call=MAX_BARS,
        weights={},
        quote_freshness=Freshness.NEAR_REALTIME,
        authoritative_not_found=frozenset({AssetClass.STOCK}),
    )

    def __init__(
        self,
        settings: ProviderSettings,
        http: ProviderHttp,
        *,
        cookie_url: str | Literal["auto"] | None = "auto",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, http)
        self.cookie_url = (
            _default_cookie_url(settings.base_url) if cookie_url == "auto" else cookie_url
        )
        self._clock = clock
        self._crumb: str | None = None
        self._crumb_lock = asyncio.Lock()
        # canonical crypto symbol → (Yahoo symbol, looked up at), for coins not in the table
        self._crypto: dict[str, tuple[str, float]] = {}

    # --- crumb ------------------------------------------------------------------------------
    async def _fetch_crumb(self, stale: str | None) -> str:
        async with self._crumb_lock:  # one fetch even when many calls find no crumb
            if self._crumb is not None and self._crumb != stale:
                return self._crumb
            if self.cookie_url:
                # Best effort: it only sets the cookie, and getcrumb may answer without one.
                with contextlib.suppress(ProviderError):
                    await self.http.get(self.cookie_url)
            resp = await self.http.get("v1/test/getcrumb")
            text = resp.text.strip()
            if resp.status == 429 or "too many requests" in text.lower():
                raise RateLimitedError(
                    NAME, "HTTP 429 on getcrumb", resp.retry_after() or yp.DEFAULT_BACKOFF
                )
            if resp.status >= 500 or "<html" in text[:500].lower():
                raise ProviderUnavailableError(
                    NAME, f"HTTP {resp.status} on getcrumb", reason="http_5xx"
                )
            if resp.status in (401, 403):
                raise ProviderAuthError(NAME, f"HTTP {resp.status}: no crumb issued")
            if (
                resp.status != 200
                or not text
                or len(text) > 64
                or any(c in text for c in "{}<> \n")
            ):
                raise BadDataError(NAME, f"HTTP {resp.status}: no usable crumb")
            self._crumb = text
            return text

    async def _with_crumb(
        self, path: str, params: Params, envelope: str, symbol: str | None = None
    ) -> dict[str, Any]:
        crumb = self._crumb or await self._fetch_crumb(None)
        resp = await self.http.get(path, {**params, "crumb": crumb})
        if resp.status == 401:  # "Invalid Crumb": the cookie expired; one fresh crumb, once
            crumb = await self._fetch_crumb(crumb)
            resp = await self.http.get(path, {**params, "crumb": crumb})
        return yp.check_response(resp, envelope, symbol)

    # --- symbols ----------------------------------------------------------------------------
    async def _vendor(self, symbol: str, asset_class: AssetClass) -> str:
        s = symbol.upper()
        if asset_class is AssetClass.STOCK:
            return yp.stock_symbol(s)
        table = yp.crypto_symbol(s)
        if table is not None:
            return table
        now = self._clock()
        cached = self._crypto.get(s)
        if cached is not None and now - cached[1] < SYMBOL_TTL:
            return cached[0]
        resp = await self.http.get("v1/finance/search", _params_search(s, quotes=10, news=0))
        matches = yp.parse_search(yp.check_response(resp, None))
        found = next(
            (m for m in matches if m.asset_class is AssetClass.CRYPTO and m.symbol == s), None
        )
        if found is None:
            raise SymbolNotFoundError(NAME, s)
        self._crypto[s] = (found.provider_symbol, now)
        return found.provider_symbol

    async def _chart(self, vendor: str, params: Params, symbol: str) -> dict[str, Any]:
        resp = await self.http.get(f"v8/finance/chart/{path_segment(vendor)}", params)
        return yp.check_response(resp, "chart", symbol)

    # --- operations ---------------------------------------------------------------------------
    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        self._check_asset_class(asset_class)
        s = symbol.upper()
        body = await self._chart(await self._vendor(s, asset_class), _params_quote(), s)
        return yp.parse_chart_quote(body, s, asset_class)

    async def quotes(
        self, symbols: Sequence[str], asset_class: AssetClass
    ) -> Mapping[str, Quote | ProviderError]:
        self._check_asset_class(asset_class)
        out: dict[str, Quote | ProviderError] = {}
        vendors: dict[str, str] = {}
        for symbol in symbols:
            try:
                vendors[symbol] = await self._vendor(symbol, asset_class)
            except SymbolNotFoundError as exc:
                out[symbol] = exc
        if vendors:
            params = {"symbols": ",".join(dict.fromkeys(vendors.values()))}
            rows = yp.parse_quote_rows(
                await self._with_crumb("v7/finance/quote", params, "quoteResponse")
            )
            for symbol, vendor in vendors.items():
                row = rows.get(vendor)
                try:
                    if row is None:  # Yahoo silently leaves out symbols it does not know
                        raise SymbolNotFoundError(NAME, symbol.upper())
                    out[symbol] = yp.parse_quote_row(row, symbol.upper(), asset_class)
                except ProviderError as exc:
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
        s = symbol.upper()
        params = _params_history(interval, start, end, self._clock())
        body = await self._chart(await self._vendor(s, asset_class), params, s)
        candles = yp.parse_chart_bars(body, interval)
        return [c for c in candles if start <= c.ts < end][:MAX_BARS]

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        if symbol:
            cls = AssetClass.CRYPTO if symbol.upper() in KNOWN_CRYPTO else AssetClass.STOCK
            q = await self._vendor(symbol, cls)
        else:
            q = (query or "").strip() or "markets"
        params = _params_search(q, quotes=0, news=max(1, min(limit, 50)))
        resp = await self.http.get("v1/finance/search", params)
        return yp.parse_news(yp.check_response(resp, None))[:limit]

    async def fundamentals(self, symbol: str) -> Fundamentals:
        s = symbol.upper()
        vendor = yp.stock_symbol(s)
        params = {"modules": SUMMARY_MODULES, "formatted": "false"}
        path = f"v10/finance/quoteSummary/{path_segment(vendor)}"
        return yp.parse_summary(await self._with_crumb(path, params, "quoteSummary", s), s)

    async def search(self, query: str) -> list[SymbolMatch]:
        resp = await self.http.get("v1/finance/search", _params_search(query, quotes=10, news=0))
        return yp.parse_search(yp.check_response(resp, None))
