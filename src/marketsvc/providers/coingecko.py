"""CoinGecko (keyless, Demo key or Pro key): prices, history, search, coin profiles, Pro news.

Auth: on the public host (``api.coingecko.com``) a key is a Demo key, sent in the
``x-cg-demo-api-key`` header; when the base URL's host is ``pro-api.coingecko.com`` the key is a
Pro key, sent in ``x-cg-pro-api-key``. Keys never go into URLs. Without a key the public host
still answers (IP-limited).

Symbol mapping: ``BTC`` → ``bitcoin`` through the built-in table; other symbols through
``/coins/list`` (cached for 24 h). Tickers are not unique there, so an ambiguous one is settled
once with ``/search`` (best market-cap rank) and the choice cached with the list.

History comes from ``/coins/{id}/market_chart/range`` price points, whose granularity CoinGecko
picks from the window (1 day from now: 5-minute; up to 90 days: hourly; beyond: daily). Each
call is kept to ``MAX_BARS`` bars plus two hours, inside 90 days, so hour and day bars are built
from hourly (or finer) points. ``/ohlc`` was not used: its candle size is fixed by ``days``
(30 min, 4 h or 4 days) and it cannot select a past range on the free plans. Demo and keyless
callers may only ask for the past 365 days (error 10012), so older windows are clipped here.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
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
from marketsvc.errors import BadDataError, ProviderError, SymbolNotFoundError, UnsupportedError
from marketsvc.providers._coingecko_parse import (
    NAME,
    PRO_HOST,
    VS,
    CoinIndex,
    best_search_id,
    candles_from_chart,
    coins_list_matches,
    parse_coins_list,
    parse_news,
    parse_price,
    parse_profile,
    parse_search,
    price_params,
    raise_for_coingecko,
)
from marketsvc.providers._common import BaseProvider
from marketsvc.providers._http import Params, ProviderHttp, path_segment, require
from marketsvc.providers.base import ProviderInfo
from marketsvc.symbols import TOP_COINS

# /simple/price accepts up to 515 ids (Demo docs); 250 keeps the URL well under 8 KB.
MAX_BATCH = 250
# 89 bars + an hour's margin on each side stay inside the 90-day window that still returns
# hourly points, for hour and day bars alike.
MAX_BARS = 89
EDGE_MARGIN = 3600
LIST_TTL = 24 * 3600.0
DEMO_HISTORY_SECONDS = 365 * 86400
NEWS_PAGE_MAX = 20
_PAIR_SUFFIXES = ("-USDT", "/USDT", "-USD", "/USD")


def canonical(symbol: str) -> str:
    """``btc``, ``BTC-USD``, ``BTC/USDT`` → ``BTC``."""
    sym = symbol.strip().upper()
    for suffix in _PAIR_SUFFIXES:
        if sym.endswith(suffix) and len(sym) > len(suffix):
            return sym[: -len(suffix)]
    return sym


def _ts(dt: datetime) -> float:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _params_range(first: int, stop: int) -> Params:
    # An hour's margin on each side brings the points nearest the outer bars' edges.
    return {
        "vs_currency": VS,
        "from": first - EDGE_MARGIN,
        "to": stop + EDGE_MARGIN,
        "precision": "full",
    }


def _params_profile() -> Params:
    return {
        "localization": "false",
        "tickers": "false",
        "market_data": "true",
        "community_data": "false",
        "developer_data": "false",
        "sparkline": "false",
    }


def _params_news(coin_id: str | None, limit: int) -> Params:
    params: dict[str, str | int] = {
        "page": 1,
        "per_page": max(1, min(limit, NEWS_PAGE_MAX)),
        "language": "en",
        "type": "all",
    }
    if coin_id is not None:
        params["coin_id"] = coin_id
    return params


_CAPABILITIES = frozenset(
    {
        Capability.QUOTE,
        Capability.BATCH_QUOTE,
        Capability.HISTORY,
        Capability.FUNDAMENTALS,
        Capability.SEARCH,
    }
)


class CoinGeckoProvider(BaseProvider):
    info = ProviderInfo(
        name=NAME,
        asset_classes=frozenset({AssetClass.CRYPTO}),
        capabilities=_CAPABILITIES,
        max_batch=MAX_BATCH,
        history_intervals=frozenset({Interval.HOUR, Interval.DAY}),
        max_bars_per_call=MAX_BARS,
        weights={},  # one call credit per request, whatever it asks
        # /simple/price is cached 60 s for Demo/keyless callers (20 s on paid plans).
        quote_freshness=Freshness.NEAR_REALTIME,
        authoritative_not_found=frozenset({AssetClass.CRYPTO}),
        symbol_lists=frozenset({AssetClass.CRYPTO}),
    )

    def __init__(
        self,
        settings: ProviderSettings,
        http: ProviderHttp,
        *,
        clock: Callable[[], float] = time.time,
        list_ttl: float = LIST_TTL,
        max_batch: int = MAX_BATCH,
    ) -> None:
        super().__init__(settings, http)
        self._clock = clock
        self._list_ttl = list_ttl
        self.pro = urlsplit(settings.base_url).hostname == PRO_HOST
        caps = (_CAPABILITIES | {Capability.NEWS}) if self.pro else _CAPABILITIES
        if self.pro or max_batch != MAX_BATCH:
            self.info = replace(self.info, capabilities=caps, max_batch=max_batch)
        self._index: CoinIndex | None = None
        self._picked: dict[str, str] = {}  # ambiguous ticker → id chosen via /search
        self._index_lock = asyncio.Lock()

    # Operations --------------------------------------------------------------------------
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
        wanted: dict[str, list[str]] = {}  # coin id → requested symbols
        for symbol in symbols:
            try:
                wanted.setdefault(await self._coin_id(canonical(symbol)), []).append(symbol)
            except SymbolNotFoundError as exc:
                out[symbol] = exc
        ids = list(wanted)
        for i in range(0, len(ids), self.info.max_batch):
            body = await self._get("simple/price", price_params(ids[i : i + self.info.max_batch]))
            require(NAME, isinstance(body, dict), "simple/price is not an object")
            for coin_id in ids[i : i + self.info.max_batch]:
                for symbol in wanted[coin_id]:
                    out[symbol] = self._price_or_error(body.get(coin_id), symbol)
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
        if interval not in self.info.history_intervals:
            raise UnsupportedError(NAME, f"interval {interval.value} is not offered")
        step = interval.seconds
        earliest = _ts(start)
        if not self.pro:
            # Keyless/Demo: the past 365 days only (the margin and an hour for clock drift).
            earliest = max(earliest, self._clock() - DEMO_HISTORY_SECONDS + 2 * EDGE_MARGIN)
        first = math.ceil(earliest / step) * step
        stop = min(math.ceil(_ts(end) / step) * step, first + MAX_BARS * step)
        if stop <= first:
            return []
        sym = canonical(symbol)
        coin_id = await self._coin_id(sym)
        body = await self._get(
            f"coins/{path_segment(coin_id)}/market_chart/range",
            _params_range(first, stop),
            sym,
        )
        bars = candles_from_chart(body, step, first, stop, with_volume=interval is Interval.DAY)
        return [c for c in bars if c.ts.timestamp() < _ts(end)]

    async def fundamentals(self, symbol: str) -> Fundamentals:
        sym = canonical(symbol)
        coin_id = await self._coin_id(sym)
        body = await self._get(f"coins/{path_segment(coin_id)}", _params_profile(), sym)
        return parse_profile(body, sym)

    async def search(self, query: str) -> list[SymbolMatch]:
        if not query.strip():
            return []
        return parse_search(await self._get("search", {"query": query.strip()}))

    async def symbols(self, asset_class: AssetClass) -> list[SymbolMatch]:
        """``/coins/list``: every coin in one answer. The same list maps tickers to ids, so the
        fetch also renews the adapter's own index."""
        self._check_asset_class(asset_class)
        async with self._index_lock:
            index = parse_coins_list(await self._get("coins/list"), self._clock())
            self._index = index
            self._picked.clear()
        return coins_list_matches(index)

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        if not self.pro:
            raise UnsupportedError(NAME, "news is offered on the Pro host only")
        coin_id = None
        if symbol is not None:
            coin_id = await self._coin_id(canonical(symbol))
        elif query:
            raise UnsupportedError(NAME, "free-text news search is not offered")
        return parse_news(await self._get("news", _params_news(coin_id, limit)), limit)

    async def health(self) -> None:
        body = await self._get("ping")
        require(NAME, isinstance(body, dict) and "gecko_says" in body, "ping answer")

    # Glue ----------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        key = self._key()
        if key is None:
            return {}
        return {"x-cg-pro-api-key" if self.pro else "x-cg-demo-api-key": key}

    async def _get(self, path: str, params: Params | None = None, symbol: str | None = None) -> Any:
        resp = await self.http.get(path, params, self._headers())
        raise_for_coingecko(resp, symbol)
        return resp.json()

    def _price_or_error(self, entry: Any, symbol: str) -> Quote | ProviderError:
        sym = canonical(symbol)
        if entry is None or entry == {}:
            # Unknown ids are left out of /simple/price rather than rejected.
            return SymbolNotFoundError(NAME, sym)
        try:
            return parse_price(entry, sym, self._clock())
        except BadDataError as exc:
            return exc

    async def _load_index(self) -> CoinIndex:
        """The cached ``/coins/list`` (one fetch however many callers wait for it)."""
        async with self._index_lock:
            index = self._index
            if index is None or self._clock() - index.loaded_at >= self._list_ttl:
                index = parse_coins_list(await self._get("coins/list"), self._clock())
                self._index = index
                self._picked.clear()  # choices were made against the old list
            return index

    async def _coin_id(self, symbol: str) -> str:
        coin = TOP_COINS.get(symbol)
        if coin is not None:
            return coin.coingecko_id
        index = await self._load_index()
        ids = index.candidates(symbol)
        if not ids:
            raise SymbolNotFoundError(NAME, symbol)
        if len(ids) == 1:
            return ids[0]
        picked = self._picked.get(symbol)
        if picked is None:
            body = await self._get("search", {"query": symbol})
            picked = best_search_id(body, symbol, ids) or ids[0]
            self._picked[symbol] = picked
        return picked
