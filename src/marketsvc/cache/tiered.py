"""TieredCache: read-through over L1 → L2 → L3 → loader, with the freshness rules of RFC 5861.

Per request: a fresh entry is served; a stale one inside the policy's revalidation window is
served at once and refreshed in the background, once; past that window the request waits for
the loader and falls back to the stale entry if the loader fails; with nothing held the
loader's error propagates. "Symbol not found" is cached briefly; no other error is cached.

A hit in a lower tier is promoted to the tiers above it; a loaded value is written to every
tier. A tier that fails is skipped and counted — a cache failure never fails a request.
Concurrent misses for one key share one lookup and one load (``SingleFlight``; the first
caller's loader and policy serve them all); across replicas a Redis lease lets one replica
load while the others wait for its result (``RedisCoordination``), which also carries
invalidations to every replica's L1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from marketsvc.cache._batch import load_batch
from marketsvc.cache._invalidation import InvalidationReport, clear_everywhere
from marketsvc.cache._singleflight import SingleFlight
from marketsvc.cache._stack import TierStack
from marketsvc.cache.base import (
    KEY_ROOT,
    NOT_FOUND,
    BatchLoader,
    CacheEntry,
    CacheKey,
    CacheTier,
    Loaded,
    Loader,
    invalidation_prefixes,
)
from marketsvc.cache.coordination import RedisCoordination
from marketsvc.cache.policy import (
    CachePolicy,
    CacheResult,
    is_negative,
    negative_entry,
    raise_negative,
)
from marketsvc.cache.stats import (
    RequestCounters,
    measure,
    overall_stats,
    tally,
    tier_stats,
)
from marketsvc.domain import DataType

log = logging.getLogger(__name__)

_MAX_BLOCKED = 4096


class TieredCache:
    def __init__(
        self,
        tiers: Sequence[CacheTier],
        *,
        clock: Callable[[], float] = time.time,
        coordination: RedisCoordination | None = None,
        refresh_backoff: float = 5.0,
        labels: Sequence[str] | None = None,
    ) -> None:
        self.stack = TierStack(tiers, labels, clock)
        self.tiers = self.stack.tiers
        self.labels = self.stack.labels
        self.clock = clock
        self.coordination = coordination
        self._lease_tier = 0
        if coordination is not None:
            if coordination.tier not in self.tiers:
                raise ValueError("the coordination's RedisTier must be one of the tiers")
            self._lease_tier = self.tiers.index(coordination.tier)
        self.tier_counters = self.stack.counters
        self.counters = RequestCounters()
        self.fills: SingleFlight[str, CacheResult] = SingleFlight()
        self.loads: SingleFlight[str, Loaded] = SingleFlight()
        # After a failed background refresh, serve stale without retrying for a while: a
        # failing upstream should not see one refresh per request.
        self._refresh_backoff = refresh_backoff
        self._refresh_blocked: dict[str, float] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # SQL write-backs finishing after the answer was given; drained on close.
        self._writes: set[asyncio.Future[None]] = set()
        self._listener: asyncio.Task[None] | None = None

    async def write(self, items: Sequence[tuple[str, CacheEntry]], upto: int | None = None) -> None:
        """Write to tiers ``[0, upto)`` (all by default): L1 first, the rest concurrently."""
        await self.stack.write(items, upto)

    # -- one key -------------------------------------------------------------------------------

    async def get_or_load(self, key: CacheKey, loader: Loader, policy: CachePolicy) -> CacheResult:
        """The cached answer for ``key``, loading it through ``loader`` when needed."""
        k = key.text
        self.counters.requests += 1
        try:
            entry = await self.stack.get(0, k)
            result = None
            if entry is not None:
                result = self.serve(k, entry, self.labels[0], loader, policy, self.clock())
            if result is None:
                held = entry
                result = await self.fills.do(k, lambda: self._fill(k, loader, policy, held))
        except NOT_FOUND:
            self.counters.not_found += 1
            raise
        except Exception:
            self.counters.failed += 1
            raise
        tally(self.counters, result)
        return result

    def peek_fresh(self, key: CacheKey) -> CacheResult | None:
        """A fresh L1 answer for ``key`` without awaiting anything, counted exactly as
        ``get_or_load`` counts that hit; ``None`` (nothing counted) for everything else — a
        miss, a stale or negative entry, an L1 that cannot be read synchronously — which the
        caller then sends through ``get_or_load``. The ASGI fast path answers with this."""
        peek = getattr(self.tiers[0], "peek", None)
        if peek is None:
            return None
        k = key.text
        try:
            entry: CacheEntry | None = peek(k)
        except Exception:
            return None
        if entry is None or is_negative(entry):
            return None
        now = self.clock()
        if now >= entry.fresh_until:
            return None
        self.counters.requests += 1
        self.tier_counters[0].hits += 1
        result = CacheResult(entry, self.labels[0], False, entry.age(now))
        tally(self.counters, result)
        return result

    def serve(
        self, k: str, entry: CacheEntry, label: str, loader: Loader, policy: CachePolicy, now: float
    ) -> CacheResult | None:
        """Answer from ``entry`` if the rules allow (maybe starting a background refresh);
        ``None`` when the caller must load. Raises for a live negative entry."""
        if now >= entry.stale_until:
            return None
        if is_negative(entry):
            if now < entry.fresh_until:
                raise_negative(entry)
            return None
        if now < entry.fresh_until:
            return CacheResult(entry, label, False, entry.age(now))
        if now < policy.revalidate_until(entry):
            self._revalidate(k, loader, policy, entry)
            return CacheResult(entry, label, True, entry.age(now))
        return None

    async def _fill(
        self, k: str, loader: Loader, policy: CachePolicy, held: CacheEntry | None
    ) -> CacheResult:
        held_label = self.labels[0]
        now = self.clock()
        for i in range(1, len(self.tiers)):
            entry = await self.stack.get(i, k)
            if entry is None or (held is not None and entry.fetched_at <= held.fetched_at):
                continue
            await self.write([(k, entry)], upto=i)  # promote
            result = self.serve(k, entry, self.labels[i], loader, policy, now)
            if result is not None:
                return result
            held, held_label = entry, self.labels[i]
        try:
            entry, label = await self.loads.do(k, lambda: self._load(k, loader, policy, held))
        except NOT_FOUND:
            raise
        except Exception as exc:
            now = self.clock()
            if held is not None and not is_negative(held) and now < held.stale_until:
                return CacheResult(held, held_label, True, held.age(now), error=exc)
            raise
        if is_negative(entry):
            raise_negative(entry)  # another replica found the symbol unknown
        now = self.clock()
        return CacheResult(entry, label, not entry.is_fresh(now), entry.age(now))

    async def _load(
        self, k: str, loader: Loader, policy: CachePolicy, held: CacheEntry | None
    ) -> Loaded:
        coord = self.coordination
        token: str | None = ""
        if coord is not None:
            try:
                token = await coord.acquire(k)
            except Exception:
                token = ""  # Redis cannot arbitrate: load on our own
            if token is None:
                peer = await self._await_peer(coord, k, held)
                if peer is not None:
                    self.counters.peer_loads += 1
                    return peer, self.labels[self._lease_tier]
        try:
            if coord is not None and token:
                # Double check under the lease: a peer may have refreshed the key between our
                # tier reads and our lease (each replica's stale entry expires at the same
                # instant, so they all try at once).
                fresher = await self.stack.get(self._lease_tier, k, count=False)
                if (
                    fresher is not None
                    and fresher.is_fresh(self.clock())
                    and (held is None or fresher.fetched_at > held.fetched_at)
                ):
                    await self.write([(k, fresher)], upto=self._lease_tier)
                    self.counters.peer_loads += 1
                    return fresher, self.labels[self._lease_tier]
            return await self._call_loader(k, loader, policy), "upstream"
        finally:
            if coord is not None and token:
                with contextlib.suppress(Exception):  # the lease expires on its own anyway
                    await coord.release(k, token)

    async def _await_peer(
        self, coord: RedisCoordination, k: str, held: CacheEntry | None
    ) -> CacheEntry | None:
        """Poll L2 for a value newer than ``held`` while another replica holds the lease."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + coord.lease_wait
        i = self._lease_tier
        while loop.time() < deadline:
            await asyncio.sleep(coord.poll_interval)
            entry = await self.stack.get(i, k, count=False)
            if entry is not None and (held is None or entry.fetched_at > held.fetched_at):
                await self.write([(k, entry)], upto=i)
                return entry
            try:
                if not await coord.held(k):
                    return None  # the holder gave up (its load failed): load ourselves
            except Exception:
                return None
        return None

    async def _call_loader(self, k: str, loader: Loader, policy: CachePolicy) -> CacheEntry:
        self.counters.loads += 1
        try:
            payload, source = await loader()
        except NOT_FOUND as exc:
            if policy.negative_ttl > 0:
                await self.write([(k, negative_entry(exc, self.clock(), policy.negative_ttl))])
            raise
        except Exception:
            self.counters.load_errors += 1
            raise
        entry = policy.entry(payload, source, self.clock())
        # The answer waits only for the tiers other callers read first: L1, and L2 when
        # replicas wait on it under a lease. The SQL tier (1-2 ms) is written behind it.
        sync_upto = self._lease_tier + 1 if self.coordination is not None else 1
        await self.write_behind(k, entry, sync_upto)
        return entry

    async def write_behind(self, k: str, entry: CacheEntry, sync_upto: int = 1) -> None:
        """Write tiers ``[0, sync_upto)`` now and the rest after the caller has its answer
        (drained on close): a fresh answer should not wait for Redis or SQL round trips."""
        await self.write([(k, entry)], upto=sync_upto)
        if sync_upto < len(self.tiers):
            task = asyncio.ensure_future(self._write_below(k, entry, sync_upto))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write_below(self, k: str, entry: CacheEntry, first: int) -> None:
        await asyncio.gather(
            *(self.stack.set(i, [(k, entry)]) for i in range(first, len(self.tiers)))
        )

    async def drain_writes(self) -> None:
        """Wait for write-backs still in flight (shutdown, tests)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    def _revalidate(self, k: str, loader: Loader, policy: CachePolicy, entry: CacheEntry) -> None:
        if k in self._refreshing or k in self.loads:
            return
        blocked = self._refresh_blocked.get(k)
        if blocked is not None:
            if self.clock() < blocked:
                return
            del self._refresh_blocked[k]
        self._refreshing.add(k)
        self.counters.refreshes += 1
        self._spawn(self._refresh(k, loader, policy, entry))

    async def _refresh(
        self, k: str, loader: Loader, policy: CachePolicy, entry: CacheEntry
    ) -> None:
        try:
            await self.loads.do(k, lambda: self._load(k, loader, policy, entry))
        except NOT_FOUND:
            pass  # the negative entry is written; requests will now see "not found"
        except Exception as exc:
            self.counters.refresh_errors += 1
            if len(self._refresh_blocked) >= _MAX_BLOCKED:
                now = self.clock()
                self._refresh_blocked = {
                    key: until for key, until in self._refresh_blocked.items() if until > now
                }
            self._refresh_blocked[k] = self.clock() + self._refresh_backoff
            log.info("background refresh failed (%s); serving stale", type(exc).__name__)
        finally:
            self._refreshing.discard(k)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- many keys, writing, invalidation, lifecycle -------------------------------------------

    async def get_many(
        self, keys: Sequence[CacheKey], loader: BatchLoader, policy: CachePolicy
    ) -> dict[CacheKey, CacheResult | Exception]:
        """``get_or_load`` for many keys: one ``get_many`` per tier (one MGET on Redis) and one
        ``loader`` call for every key no tier could answer. Per-key errors are returned."""
        return await load_batch(
            self.stack, self.loads, self.serve, self.counters, keys, loader, policy
        )

    async def warm(self, items: Sequence[tuple[CacheKey, bytes, str]], policy: CachePolicy) -> int:
        """Write values fetched elsewhere (prefetch, streams) to every tier as fresh."""
        now = self.clock()
        entries = [(key.text, policy.entry(data, source, now)) for key, data, source in items]
        await self.write(entries)
        return len(items)

    async def invalidate(
        self, data_type: DataType | str | None = None, symbol: str | None = None
    ) -> InvalidationReport:
        """Drop every entry of ``data_type`` and/or ``symbol`` (both ``None``: everything) from
        every tier here and from every replica's L1."""
        prefixes = invalidation_prefixes(data_type, symbol)
        self.counters.invalidations += 1
        self._refresh_blocked.clear()
        return await clear_everywhere(
            prefixes, self.tiers, self.labels, self.tier_counters, self.coordination
        )

    async def sweep(self) -> dict[str, int]:
        """Delete entries past their stale horizon from the tiers that keep them until asked
        (the SQL tier; L1 evicts by size and Redis expires keys on its own)."""
        swept: dict[str, int] = {}
        for i, tier in enumerate(self.tiers):
            sweep = getattr(tier, "sweep", None)
            if sweep is None:
                continue
            try:
                swept[self.labels[i]] = int(await sweep())
            except Exception as exc:
                self.stack.failed(i, exc)
        return swept

    async def _on_remote_clear(self, prefixes: list[str]) -> None:
        self.counters.remote_invalidations += 1
        for prefix in prefixes:
            await self.tiers[0].clear(prefix)

    async def _on_resubscribed(self) -> None:
        self.counters.l1_flushes += 1
        await self.tiers[0].clear(KEY_ROOT)

    async def stats(self) -> dict[str, object]:
        """Per-tier and overall counters as a plain dict (``/cache/stats``, ``/metrics``)."""
        usages = await asyncio.gather(*(measure(t) for t in self.tiers))
        out = overall_stats(self.counters)
        out["coalesced"] = self.fills.coalesced + self.loads.coalesced
        coord = self.coordination
        out["invalidation_channel"] = coord and ("up" if coord.connected else "down")
        out["tiers"] = {
            label: tier_stats(label, tier.name, counters, use)
            for label, tier, counters, use in zip(
                self.labels, self.tiers, self.tier_counters, usages, strict=True
            )
        }
        return out

    async def start(self, ready_timeout: float = 1.0) -> None:
        """Start the invalidation listener; wait up to ``ready_timeout`` for its subscription
        (a Redis that is down does not block start-up: the listener keeps retrying)."""
        if self.coordination is None or self._listener is not None:
            return
        ready = asyncio.Event()
        self._listener = asyncio.create_task(
            self.coordination.listen(self._on_remote_clear, self._on_resubscribed, ready)
        )
        try:
            async with asyncio.timeout(ready_timeout):
                await ready.wait()
        except TimeoutError:
            log.warning("cache invalidation channel not subscribed yet; retrying in background")

    async def aclose(self) -> None:
        """Finish pending write-backs; stop the listener and background refreshes (the Redis
        client is the caller's)."""
        await self.drain_writes()
        tasks = list(self._tasks)
        if self._listener is not None:
            tasks.append(self._listener)
            self._listener = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.fills.aclose()
        await self.loads.aclose()
