"""UniverseIndex: the merged, immutable in-memory view of every stored symbol list.

Built once per change (start-up load, daily refresh) and swapped in whole, so lookups and
searches never lock and never see half a list. Per asset class it holds one entry per
canonical symbol (name, the providers whose lists carry it), a sorted symbol array for prefix
search (bisect) and the lower-cased names for the name scan.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from marketsvc.domain import AssetClass, SymbolMatch
from marketsvc.symbols import KNOWN_CRYPTO, TOP_COINS

# Whose names to show when several lists carry a symbol: the vendors with real names first
# (Binance and Tiingo lists carry none; Finnhub's are upper-case).
NAME_PREFERENCE = ("coinmarketcap", "coingecko", "polygon", "finnhub", "binance", "tiingo")

# Lists in market-cap rank order (CMC's map is fetched with sort=cmc_rank): a symbol's position
# there is its rank, the best signal of which of two prefix matches a user means.
RANKED_SOURCES = frozenset({"coinmarketcap"})

_TOP_ORDER = {sym: i for i, sym in enumerate(TOP_COINS)}

# Search tiers, best first.
EXACT, PREFIX, NAME_WORD, NAME_CONTAINS = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Entry:
    symbol: str
    name: str
    asset_class: AssetClass
    providers: tuple[str, ...]
    rank: float = math.inf  # position in a ranked list; inf = unranked


@dataclass(frozen=True, slots=True)
class SearchHit:
    entry: Entry
    tier: int


def _name_rank(provider: str) -> int:
    try:
        return NAME_PREFERENCE.index(provider)
    except ValueError:
        return len(NAME_PREFERENCE)


class _ClassIndex:
    """One asset class's entries with the arrays search needs."""

    __slots__ = ("blob", "entries", "starts", "symbols")

    def __init__(self, entries: dict[str, Entry]) -> None:
        self.entries = entries
        self.symbols = sorted(entries)
        # Every name, lower-cased, in one newline-joined string: the name scan is a loop of
        # C-speed str.find calls instead of one Python-level test per entry.
        names = [entries[s].name.lower().replace("\n", " ") for s in self.symbols]
        self.blob = "\n".join(names)
        self.starts: list[int] = []
        at = 0
        for name in names:
            self.starts.append(at)
            at += len(name) + 1

    def name_hits(self, q: str) -> dict[str, int]:
        """symbol → NAME_WORD or NAME_CONTAINS for every name containing ``q``."""
        hits: dict[str, int] = {}
        pos = self.blob.find(q)
        while pos >= 0:
            i = bisect_right(self.starts, pos) - 1
            sym = self.symbols[i]
            word = pos == self.starts[i] or not self.blob[pos - 1].isalnum()
            if word or sym not in hits:
                hits[sym] = NAME_WORD if word else NAME_CONTAINS
            pos = self.blob.find(q, pos + 1)
        return hits


class UniverseIndex:
    def __init__(self, by_class: dict[AssetClass, _ClassIndex], lists: int) -> None:
        self._by_class = by_class
        self.lists = lists  # how many provider lists went in (0 = built-in table only)

    @classmethod
    def build(cls, lists: Iterable[Sequence[SymbolMatch]]) -> UniverseIndex:
        """Merge provider lists. The built-in top coins are always in (the cold-start
        fallback), named from the built-in table."""
        named: dict[AssetClass, dict[str, tuple[int, str]]] = {ac: {} for ac in AssetClass}
        carriers: dict[AssetClass, dict[str, dict[str, None]]] = {ac: {} for ac in AssetClass}
        ranks: dict[AssetClass, dict[str, float]] = {ac: {} for ac in AssetClass}
        count = 0
        for matches in lists:
            count += 1
            for position, m in enumerate(matches):
                ac, sym = m.asset_class, m.symbol.upper()
                carriers[ac].setdefault(sym, {})[m.source] = None
                if m.source in RANKED_SOURCES and position < ranks[ac].get(sym, math.inf):
                    ranks[ac][sym] = position
                rank = _name_rank(m.source) + (100 if m.name.upper() == sym else 0)
                best = named[ac].get(sym)
                if best is None or rank < best[0]:
                    named[ac][sym] = (rank, m.name)
        for coin in TOP_COINS.values():
            named[AssetClass.CRYPTO][coin.symbol] = (-1, coin.name)
            carriers[AssetClass.CRYPTO].setdefault(coin.symbol, {})
        by_class = {
            ac: _ClassIndex(
                {
                    sym: Entry(
                        sym,
                        name,
                        ac,
                        tuple(sorted(carriers[ac][sym])),
                        ranks[ac].get(sym, math.inf),
                    )
                    for sym, (_, name) in named[ac].items()
                }
            )
            for ac in AssetClass
        }
        return cls(by_class, count)

    def size(self, asset_class: AssetClass) -> int:
        return len(self._by_class[asset_class].entries)

    def get(self, symbol: str, asset_class: AssetClass) -> Entry | None:
        return self._by_class[asset_class].entries.get(symbol)

    def knows(self, symbol: str, asset_class: AssetClass) -> bool:
        return symbol in self._by_class[asset_class].entries

    def search(
        self, query: str, asset_class: AssetClass | None = None, limit: int = 10
    ) -> list[SearchHit]:
        """Exact symbol, then symbol prefix, then a name word starting with the query, then
        a name containing it. Within a tier: ranked coins by rank, then the symbols more lists
        carry (a proxy for how established a symbol is), shorter, alphabetical."""
        q_sym, q_name = query.strip().upper(), query.strip().lower()
        if not q_sym or limit <= 0:
            return []
        classes = [asset_class] if asset_class is not None else list(AssetClass)
        best: dict[tuple[AssetClass, str], int] = {}
        for ac in classes:
            idx = self._by_class[ac]
            if q_sym in idx.entries:
                best[(ac, q_sym)] = EXACT
            start = bisect_left(idx.symbols, q_sym)
            for sym in idx.symbols[start:]:
                if not sym.startswith(q_sym):
                    break
                best.setdefault((ac, sym), PREFIX)
        if len(best) < limit:  # names only when the symbols did not fill the page
            for ac in classes:
                for sym, tier in self._by_class[ac].name_hits(q_name).items():
                    best.setdefault((ac, sym), tier)

        def key(
            item: tuple[tuple[AssetClass, str], int],
        ) -> tuple[int, int, float, int, int, str, str]:
            (ac, sym), tier = item
            entry = self._by_class[ac].entries[sym]
            top = ac is AssetClass.CRYPTO and sym in KNOWN_CRYPTO
            # A ticker that is a coin and a stock: the reading a bare request gets comes first
            # (contract section 4: the coin only when it is a known top coin).
            default = 0 if tier != EXACT or top or ac is AssetClass.STOCK else 1
            # The built-in top coins lead, in their table's (market-cap) order.
            rank = _TOP_ORDER[sym] - len(_TOP_ORDER) if top else entry.rank
            return (tier, default, rank, -len(entry.providers), len(sym), sym, ac.value)

        chosen = heapq.nsmallest(limit, best.items(), key=key)
        return [SearchHit(self._by_class[ac].entries[sym], tier) for (ac, sym), tier in chosen]
