"""Counters kept by ``TieredCache`` and their plain-dict form for ``/cache/stats`` and
``/metrics``. Hits and misses are counted per tier lookup; the overall hit rate is per request
(a request answered by any tier counts once, however many tiers it touched)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

from marketsvc.cache.base import CacheTier, TierError, TierUsage
from marketsvc.cache.policy import CacheResult


def hit_rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


@dataclass(slots=True)
class TierCounters:
    hits: int = 0
    misses: int = 0
    errors: int = 0  # the backend failed
    skipped: int = 0  # not tried: its circuit was open
    writes: int = 0

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, TierError) and exc.skipped:
            self.skipped += 1
        else:
            self.errors += 1


@dataclass(slots=True)
class RequestCounters:
    requests: int = 0
    cache_hits: int = 0  # answered by a tier (fresh or stale)
    stale_served: int = 0  # of which stale (revalidating or stale-if-error)
    stale_if_error: int = 0
    not_found: int = 0  # "unknown symbol" answers (negative cache or loader)
    failed: int = 0  # the loader's error reached the caller
    coalesced: int = 0  # callers that shared another caller's lookup or load
    loads: int = 0  # loader calls (single or batch)
    load_errors: int = 0
    peer_loads: int = 0  # answers another replica loaded while we held back (lease)
    refreshes: int = 0  # background revalidations started
    refresh_errors: int = 0
    invalidations: int = 0
    remote_invalidations: int = 0
    l1_flushes: int = 0


def tally(counters: RequestCounters, result: CacheResult) -> None:
    """Count one answer served from the cache (fresh, stale, or stale because of an error)."""
    if result.cached:
        counters.cache_hits += 1
    if result.stale:
        counters.stale_served += 1
    if result.error is not None:
        counters.stale_if_error += 1


def tier_stats(
    label: str, name: str, counters: TierCounters, usage: TierUsage | None
) -> dict[str, object]:
    lookups = counters.hits + counters.misses
    return {
        "tier": label,
        "backend": name,
        "size": usage.entries if usage else None,
        "bytes": usage.bytes if usage else None,
        "hits": counters.hits,
        "misses": counters.misses,
        "hit_rate": hit_rate(counters.hits, lookups),
        "evictions": usage.evictions if usage else 0,
        "errors": counters.errors,
        "skipped": counters.skipped,
        "writes": counters.writes,
    }


def overall_stats(requests: RequestCounters) -> dict[str, object]:
    out: dict[str, object] = asdict(requests)
    out["hit_rate"] = hit_rate(requests.cache_hits, requests.requests)
    return out


async def measure(tier: CacheTier) -> TierUsage | None:
    """The tier's usage, or ``None`` if it cannot say within a second (a scrape must not hang
    on a dead backend)."""
    try:
        async with asyncio.timeout(1.0):
            return await tier.usage()
    except Exception:
        return None
