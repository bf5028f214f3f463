"""CoinMarketCap (key required, header ``X-CMC_PRO_API_KEY``): quotes, batch quotes, coin
profiles and symbol search on the Basic (free) plan's endpoints.

Symbol mapping: CMC's stable key is a numeric id (BTC = 1). Top coins map through the built-in
table; other symbols through ``/v1/cryptocurrency/map?symbol=…`` (all unresolved symbols of a
call in one request), keeping the active coin with the best rank, cached for 24 h (unknown
symbols for 1 h). CMC rejects a whole map call when one symbol is unknown, so a rejected
multi-symbol lookup is retried one symbol at a time.

Quotes use ``/v2/cryptocurrency/quotes/latest?id=…&skip_invalid=true`` (up to 100 ids; one
credit per 100 coins). History (OHLCV) and news are not on the free plan and are not offered.
Errors: ``status.error_code`` is checked on every answer, HTTP 200 included.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from marketsvc.config import ProviderSettings
from marketsvc.domain import (
    AssetClass,
    Capability,
    Freshness,
    Fundamentals,
    Quote,
    SymbolMatch,
)
from marketsvc.errors import BadDataError, ProviderError, SymbolNotFoundError
from marketsvc.providers._coinmarketcap_parse import (
    NAME,
    best_ids,
    data_of,
    map_page_params,
    parse_info,
    parse_map_matches,
    parse_quote,
    quotes_params,
    raise_for_cmc,
)
from marketsvc.providers._common import BaseProvider
from marketsvc.providers._http import Params, ProviderHttp
from marketsvc.providers.base import ProviderInfo
from marketsvc.symbols import TOP_COINS

MAX_BATCH = 100
QUOTES_PATH = "v2/cryptocurrency/quotes/latest"
MAP_TTL = 24 * 3600.0
MISS_TTL = 3600.0  # an unknown symbol may be listed later the same day
# The map's page size limit, and how many pages one symbol-list fetch follows at most (CMC
# lists ~10,000 active coins; each page is a call and, in older docs, a credit).
MAP_PAGE = 5000
MAX_MAP_PAGES = 10
_PAIR_SUFFIXES = ("-USDT", "/USDT", "-USD", "/USD")


def canonical(symbol: str) -> str:
    """``btc``, ``BTC-USD``, ``BTC/USDT`` → ``BTC``."""
    sym = symbol.strip().upper()
    for suffix in _PAIR_SUFFIXES:
        if sym.endswith(suffix) and len(sym) > len(suffix):
            return sym[: -len(suffix)]
    return sym


class CoinMarketCapProvider(BaseProvider):
    info = ProviderInfo(
        name=NAME,
        asset_classes=frozenset({AssetClass.CRYPTO}),
        capabilities=frozenset(
            {Capability.QUOTE, Capability.BATCH_QUOTE, Capability.FUNDAMENTALS, Capability.SEARCH}
        ),
        max_batch=MAX_BATCH,
        weights={},  # one call credit per call of up to 100 coins
        # CMC refreshes quotes every 60 s.
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
        map_ttl: float = MAP_TTL,
        miss_ttl: float = MISS_TTL,
    ) -> None:
        super().__init__(settings, http)
        self._clock = clock
        self._map_ttl = map_ttl
        self._miss_ttl = miss_ttl
        self._ids: dict[str, tuple[int | None, float]] = {}  # symbol → (id or unknown, when)
        self._map_lock = asyncio.Lock()

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
        ids = await self._resolve([canonical(s) for s in symbols])
        out: dict[str, Quote | ProviderError] = {}
        wanted: dict[int, list[str]] = {}  # CMC id → requested symbols
        for symbol in symbols:
            cmc_id = ids.get(canonical(symbol))
            if cmc_id is None:
                out[symbol] = SymbolNotFoundError(NAME, canonical(symbol))
            else:
                wanted.setdefault(cmc_id, []).append(symbol)
        chunks = list(wanted)
        for i in range(0, len(chunks), MAX_BATCH):
            chunk = chunks[i : i + MAX_BATCH]
            names = [canonical(s) for cid in chunk for s in wanted[cid]]
            try:
                body = await self._get(
                    "v2/cryptocurrency/quotes/latest", quotes_params(chunk), names
                )
                data = data_of(body, dict)
            except SymbolNotFoundError:
                data = {}  # every id of the chunk was invalid
            for cmc_id in chunk:
                for symbol in wanted[cmc_id]:
                    out[symbol] = self._quote_or_error(data.get(str(cmc_id)), canonical(symbol))
        return out

    async def fundamentals(self, symbol: str) -> Fundamentals:
        sym = canonical(symbol)
        cmc_id = (await self._resolve([sym])).get(sym)
        if cmc_id is None:
            raise SymbolNotFoundError(NAME, sym)
        data = data_of(await self._get("v2/cryptocurrency/info", {"id": cmc_id}, [sym]), dict)
        entry = data.get(str(cmc_id))
        if entry is None:
            raise SymbolNotFoundError(NAME, sym)
        return parse_info(entry, sym)

    async def search(self, query: str) -> list[SymbolMatch]:
        """CMC has no free-text search: ``query`` is looked up as a ticker in the map."""
        sym = canonical(query)
        if not sym:
            return []
        try:
            body = await self._get("v1/cryptocurrency/map", {"symbol": sym}, [sym])
        except SymbolNotFoundError:
            return []
        self._remember(best_ids(body), [sym])
        return parse_map_matches(body)

    async def symbols(self, asset_class: AssetClass) -> list[SymbolMatch]:
        """``/v1/cryptocurrency/map`` page by page (``start``/``limit``, rank order) until a
        short page. The ids it carries also fill the adapter's symbol → id map."""
        self._check_asset_class(asset_class)
        out: list[SymbolMatch] = []
        seen: set[str] = set()  # pages come best rank first: a ticker's first id is its best
        for page in range(MAX_MAP_PAGES):
            params = map_page_params(1 + page * MAP_PAGE, MAP_PAGE)
            body = await self._get("v1/cryptocurrency/map", params)
            out.extend(parse_map_matches(body))
            fresh = {s: i for s, i in best_ids(body).items() if s not in seen}
            self._remember(fresh, list(fresh))
            seen.update(fresh)
            if len(data_of(body, list)) < MAP_PAGE:
                break
        return out

    async def health(self) -> None:
        # /v1/key/info costs no credits and proves the key works.
        data_of(await self._get("v1/key/info"), dict)

    # Glue ----------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        key = self._key()
        return {"X-CMC_PRO_API_KEY": key} if key else {}

    async def _get(
        self, path: str, params: Params | None = None, symbols: Sequence[str] = ()
    ) -> Any:
        resp = await self.http.get(path, params, self._headers())
        raise_for_cmc(resp, self._clock(), symbols)
        return resp.json()

    @staticmethod
    def _quote_or_error(entry: Any, symbol: str) -> Quote | ProviderError:
        if entry is None:
            return SymbolNotFoundError(NAME, symbol)
        try:
            return parse_quote(entry, symbol)
        except BadDataError as exc:
            return exc

    def _cached(self, symbol: str, now: float) -> tuple[bool, int | None]:
        hit = self._ids.get(symbol)
        if hit is None:
            return False, None
        cmc_id, when = hit
        ttl = self._map_ttl if cmc_id is not None else self._miss_ttl
        return now - when < ttl, cmc_id

    def _remember(self, found: Mapping[str, int], asked: Sequence[str]) -> None:
        now = self._clock()
        for sym in asked:
            self._ids[sym] = (found.get(sym), now)

    async def _resolve(self, symbols: Sequence[str]) -> dict[str, int]:
        """symbol → CMC id for every symbol CMC knows (unknown ones are left out)."""
        out: dict[str, int] = {}
        missing: list[str] = []
        now = self._clock()
        for sym in dict.fromkeys(symbols):
            coin = TOP_COINS.get(sym)
            fresh, cmc_id = self._cached(sym, now)
            if coin is not None:
                out[sym] = coin.cmc_id
            elif fresh:
                if cmc_id is not None:
                    out[sym] = cmc_id
            else:
                missing.append(sym)
        if missing:
            async with self._map_lock:
                # Another caller may have looked them up while this one waited.
                still = [s for s in missing if not self._cached(s, self._clock())[0]]
                if still:
                    await self._lookup(still)
            out.update({s: i for s in missing if (i := self._ids[s][0]) is not None})
        return out

    async def _lookup(self, symbols: list[str]) -> None:
        try:
            body = await self._get("v1/cryptocurrency/map", {"symbol": ",".join(symbols)}, symbols)
            self._remember(best_ids(body), symbols)
            return
        except SymbolNotFoundError:
            if len(symbols) == 1:
                self._remember({}, symbols)
                return
        for sym in symbols:  # one unknown symbol rejected the batch: ask one by one
            try:
                body = await self._get("v1/cryptocurrency/map", {"symbol": sym}, [sym])
                found = best_ids(body)
            except SymbolNotFoundError:
                found = {}
            self._remember(found, [sym])
