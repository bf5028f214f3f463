"""UniverseRepository: the stored symbol lists, one row per (provider, asset class).

A list is stored whole as zlib-compressed JSON rows ``[symbol, name, provider_symbol]``: lists
are read and written whole (at start-up and once a day), never queried row by row (search runs
over the in-memory index), so one blob per list keeps the write atomic and the load one
round trip. CoinGecko's real list (~17,000 coins) compresses to a few hundred KB.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.tables import symbol_universes
from marketsvc.domain import AssetClass, SymbolMatch

ListKey = tuple[str, AssetClass]  # (provider, asset class)


@dataclass(frozen=True, slots=True)
class StoredList:
    provider: str
    asset_class: AssetClass
    fetched_at: float
    matches: list[SymbolMatch]


def _encode(matches: Sequence[SymbolMatch]) -> bytes:
    rows = [[m.symbol, m.name, m.provider_symbol] for m in matches]
    return zlib.compress(orjson.dumps(rows), 6)


def _decode(provider: str, asset_class: AssetClass, payload: bytes) -> list[SymbolMatch]:
    rows = orjson.loads(zlib.decompress(payload))
    return [SymbolMatch(s, n, asset_class, ps, provider) for s, n, ps in rows]


class UniverseRepository:
    """Reads and replaces stored lists; the engine belongs to the caller."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(
        self,
        provider: str,
        asset_class: AssetClass,
        matches: Sequence[SymbolMatch],
        fetched_at: float,
    ) -> None:
        key = (
            symbol_universes.c.provider == provider,
            symbol_universes.c.asset_class == asset_class.value,
        )
        row = {
            "provider": provider,
            "asset_class": asset_class.value,
            "fetched_at": fetched_at,
            "entries": len(matches),
            "payload": _encode(matches),
        }
        # Delete + insert in one transaction: portable (SQLite and PostgreSQL) and atomic.
        async with self._engine.begin() as conn:
            await conn.execute(delete(symbol_universes).where(*key))
            await conn.execute(insert(symbol_universes).values(**row))

    async def stamps(self) -> dict[ListKey, float]:
        """When each stored list was fetched (cheap: no payloads)."""
        query = select(
            symbol_universes.c.provider,
            symbol_universes.c.asset_class,
            symbol_universes.c.fetched_at,
        )
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return {(p, AssetClass(ac)): float(at) for p, ac, at in result}

    async def load(self, keys: Sequence[ListKey] | None = None) -> list[StoredList]:
        """The stored lists (all of them, or those of ``keys``)."""
        query = select(
            symbol_universes.c.provider,
            symbol_universes.c.asset_class,
            symbol_universes.c.fetched_at,
            symbol_universes.c.payload,
        )
        wanted = set(keys) if keys is not None else None
        if wanted is not None:
            query = query.where(symbol_universes.c.provider.in_({p for p, _ in wanted}))
        out: list[StoredList] = []
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            for provider, raw_class, fetched_at, payload in result:
                asset_class = AssetClass(raw_class)
                if wanted is not None and (provider, asset_class) not in wanted:
                    continue
                matches = _decode(provider, asset_class, payload)
                out.append(StoredList(provider, asset_class, float(fetched_at), matches))
        return out
