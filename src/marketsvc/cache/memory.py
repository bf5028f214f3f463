"""L1: an in-process LRU bounded by entry count AND by bytes.

A plain ``cachetools.LRUCache`` rather than ``TTLCache``: TTLCache drops an entry the moment it
expires, but we must keep expired-yet-not-stale entries to serve them stale. Expiry is checked on
read (``stale_until``), which keeps ``get`` at one dict lookup plus an LRU touch (O(1)).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from cachetools import LRUCache

from marketsvc.cache.base import CacheEntry, TierUsage, check_prefix

# Rough per-entry cost beyond the payload (entry object, key string, LRU links), so a flood of
# tiny payloads cannot hide behind a bytes bound that only counts payloads.
ENTRY_OVERHEAD = 200


def entry_size(entry: CacheEntry) -> int:
    return len(entry.payload) + len(entry.source) + ENTRY_OVERHEAD


class _BoundedLRU(LRUCache[str, CacheEntry]):
    """LRUCache whose ``maxsize`` is the byte bound, plus an entry-count bound and an eviction
    counter (cachetools calls ``popitem`` for every eviction it makes)."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=entry_size)
        self.max_entries = max_entries
        self.evictions = 0

    def popitem(self) -> tuple[str, CacheEntry]:
        item = super().popitem()
        self.evictions += 1
        return item

    def __setitem__(self, key: str, value: CacheEntry) -> None:
        super().__setitem__(key, value)
        while len(self) > self.max_entries:
            self.popitem()


class MemoryTier:
    name = "memory"

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("MemoryTier bounds must be positive")
        self._lru = _BoundedLRU(max_entries, max_bytes)
        self._clock = clock
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def peek(self, key: str) -> CacheEntry | None:
        """Synchronous ``get``: the hot path of ``TieredCache`` calls this without awaiting."""
        entry = self._lru.get(key)
        if entry is not None and self._clock() >= entry.stale_until:
            del self._lru[key]
            return None
        return entry

    def put(self, key: str, entry: CacheEntry) -> bool:
        """Synchronous ``set``."""
        if self._clock() >= entry.stale_until:
            return False
        held = self._lru.get(key)
        if held is not None and held.fetched_at > entry.fetched_at:
            return False
        if entry_size(entry) > self.max_bytes:
            # Larger than the whole cache: keep it out rather than flush everything for it.
            # The old value goes too, or a stale version would outlive its replacement.
            self._lru.pop(key, None)
            return False
        self._lru[key] = entry
        return True

    def flush(self) -> int:
        count = len(self._lru)
        self._lru.clear()
        return count

    async def get(self, key: str) -> CacheEntry | None:
        return self.peek(key)

    async def get_many(self, keys: Sequence[str]) -> list[CacheEntry | None]:
        return [self.peek(key) for key in keys]

    async def set(self, key: str, entry: CacheEntry) -> bool:
        return self.put(key, entry)

    async def set_many(self, items: Sequence[tuple[str, CacheEntry]]) -> int:
        return sum(self.put(key, entry) for key, entry in items)

    async def delete(self, key: str) -> None:
        self._lru.pop(key, None)

    async def clear(self, prefix: str) -> int:
        check_prefix(prefix)
        doomed = [key for key in self._lru if key.startswith(prefix)]
        for key in doomed:
            del self._lru[key]
        return len(doomed)

    async def usage(self) -> TierUsage:
        return TierUsage(
            entries=len(self._lru), bytes=int(self._lru.currsize), evictions=self._lru.evictions
        )
