"""Access to an ordered list of cache tiers, where a tier's failure is counted, never raised.

``TieredCache`` (the read-through rules) and the batch loader both read and write through a
``TierStack``; neither needs the other for that, which keeps the two free of an import cycle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from marketsvc.cache.base import CacheEntry, CacheTier, TierError
from marketsvc.cache.stats import TierCounters

log = logging.getLogger(__name__)


class TierStack:
    def __init__(
        self,
        tiers: Sequence[CacheTier],
        labels: Sequence[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not tiers:
            raise ValueError("TieredCache needs at least one tier")
        self.tiers = list(tiers)
        # What answers report as their tier ("l1", "l2", "l3"); by position unless told, so a
        # deployment without Redis can still call its SQL tier "l3".
        self.labels = list(labels) if labels else [f"l{i + 1}" for i in range(len(self.tiers))]
        if len(self.labels) != len(self.tiers):
            raise ValueError("TieredCache needs one label per tier")
        self.clock = clock
        self.counters = [TierCounters() for _ in self.tiers]

    def __len__(self) -> int:
        return len(self.tiers)

    def failed(self, i: int, exc: Exception) -> None:
        self.counters[i].failed(exc)
        if not isinstance(exc, TierError):
            # Not a backend outage but a bug in a tier: still skipped, but say so loudly.
            log.warning("cache tier %s raised %s", self.labels[i], type(exc).__name__, exc_info=exc)

    async def get(self, i: int, key: str, *, count: bool = True) -> CacheEntry | None:
        try:
            entry = await self.tiers[i].get(key)
        except Exception as exc:
            self.failed(i, exc)
            return None
        if count:
            if entry is None:
                self.counters[i].misses += 1
            else:
                self.counters[i].hits += 1
        return entry

    async def get_many(self, i: int, keys: Sequence[str]) -> list[CacheEntry | None]:
        try:
            found = await self.tiers[i].get_many(keys)
        except Exception as exc:
            self.failed(i, exc)
            return [None] * len(keys)
        hits = sum(entry is not None for entry in found)
        self.counters[i].hits += hits
        self.counters[i].misses += len(keys) - hits
        return found

    async def set(self, i: int, items: Sequence[tuple[str, CacheEntry]]) -> None:
        tier = self.tiers[i]
        try:
            if len(items) == 1:
                stored = int(await tier.set(*items[0]))
            else:
                stored = await tier.set_many(items)
        except Exception as exc:
            self.failed(i, exc)
            return
        self.counters[i].writes += stored

    async def write(self, items: Sequence[tuple[str, CacheEntry]], upto: int | None = None) -> None:
        """Write to tiers ``[0, upto)`` (all by default): L1 first, the rest concurrently."""
        n = len(self.tiers) if upto is None else upto
        if n < 1 or not items:
            return
        await self.set(0, items)
        if n > 1:
            await asyncio.gather(*(self.set(i, items) for i in range(1, n)))
