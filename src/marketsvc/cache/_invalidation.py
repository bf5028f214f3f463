"""Invalidation fan-out for ``TieredCache.invalidate``: every tier here, then every replica.

Tiers are cleared bottom-up (L3, L2, then L1) so a request racing the clear cannot promote a
doomed value from a lower tier back into L1 after L1 was cleared. Other replicas hear about it
on the Redis invalidation channel (``RedisCoordination``) and clear the same prefixes from
their own L1. A tier that fails is reported, not raised: the admin caller decides what to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from marketsvc.cache.base import CacheTier
from marketsvc.cache.coordination import RedisCoordination
from marketsvc.cache.stats import TierCounters


@dataclass(frozen=True, slots=True)
class InvalidationReport:
    prefixes: tuple[str, ...]
    removed: dict[str, int]  # per tier label (Redis: keys found by the scan)
    failed: tuple[str, ...]  # tier labels (or "broadcast") the clear did not reach


async def clear_everywhere(
    prefixes: tuple[str, ...],
    tiers: Sequence[CacheTier],
    labels: Sequence[str],
    counters: Sequence[TierCounters],
    coordination: RedisCoordination | None,
) -> InvalidationReport:
    removed: dict[str, int] = {}
    failed: list[str] = []
    for i in reversed(range(len(tiers))):
        try:
            removed[labels[i]] = sum([await tiers[i].clear(p) for p in prefixes])
        except Exception as exc:
            counters[i].failed(exc)
            failed.append(labels[i])
    if coordination is not None:
        try:
            await coordination.publish(prefixes)
        except Exception:
            failed.append("broadcast")
    return InvalidationReport(prefixes, removed, tuple(failed))
