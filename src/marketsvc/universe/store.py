"""SymbolUniverses: the stored provider lists and the merged index built from them.

Storage is the ``symbol_universes`` table (``db.universes.UniverseRepository``): every replica
loads the lists from it at start-up and re-reads the ones another replica refreshed, so only
one replica per day fetches them upstream (the scheduled job's lease). Without a repository
(unit tests, tools) the lists live in memory only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from marketsvc.db.universes import ListKey, StoredList, UniverseRepository
from marketsvc.domain import AssetClass, SymbolMatch
from marketsvc.universe.index import UniverseIndex


class SymbolUniverses:
    def __init__(self, repo: UniverseRepository | None = None) -> None:
        self._repo = repo
        self._lists: dict[ListKey, StoredList] = {}
        self.index = UniverseIndex.build([])  # built-in table only, until lists arrive
        self._lock = asyncio.Lock()

    def stamps(self) -> dict[ListKey, float]:
        """When each list held in memory was fetched upstream."""
        return {key: stored.fetched_at for key, stored in self._lists.items()}

    def sizes(self) -> dict[str, int]:
        """Entries per list (``provider:asset_class``) and in the merged index."""
        out = {f"{p}:{ac.value}": len(s.matches) for (p, ac), s in sorted(self._lists.items())}
        for ac in AssetClass:
            out[f"merged:{ac.value}"] = self.index.size(ac)
        return out

    async def stored_stamps(self) -> dict[ListKey, float]:
        return await self._repo.stamps() if self._repo is not None else self.stamps()

    async def load(self, keys: Sequence[ListKey] | None = None) -> int:
        """Read stored lists (all, or ``keys``) into memory; how many were read."""
        if self._repo is None:
            return 0
        stored = await self._repo.load(keys)
        if stored:
            await self._swap({(s.provider, s.asset_class): s for s in stored})
        return len(stored)

    async def replace(
        self,
        provider: str,
        asset_class: AssetClass,
        matches: Sequence[SymbolMatch],
        fetched_at: float,
    ) -> None:
        """Store a freshly fetched list, then serve it."""
        if self._repo is not None:
            await self._repo.save(provider, asset_class, matches, fetched_at)
        await self._swap(
            {(provider, asset_class): StoredList(provider, asset_class, fetched_at, list(matches))}
        )

    async def _swap(self, changed: dict[ListKey, StoredList]) -> None:
        async with self._lock:
            lists = {**self._lists, **changed}
            # Merging tens of thousands of rows takes a while: off the event loop, so the
            # requests in flight meanwhile are not held up.
            index = await asyncio.to_thread(
                UniverseIndex.build, [s.matches for s in lists.values()]
            )
            self._lists, self.index = lists, index
