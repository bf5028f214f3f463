"""Usage per key, UTC day and endpoint: counted in memory on the request path (a dict update),
added to the ``client_key_usage`` rows in one batched upsert per interval by each replica.

Batched SQL rather than Redis ``HINCRBY``: the rows survive a restart of Redis as well as of the
service, work the same with or without Redis, and one statement per second per replica is
nothing for the database. A failed flush keeps its counts for the next one; a graceful stop
flushes what is left. Only a crash loses counts, at most one interval's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.tables import client_key_usage
from marketsvc.keys.hashing import prefix_of
from marketsvc.keys.store import DatabaseKeyStore, KeyStoreError

log = logging.getLogger(__name__)

FIELDS = ("requests", "errors", "cache_hits", "upstream_calls", "bytes")
# Server-Timing tiers that mean "answered from a cache".
CACHE_TIERS = frozenset({"l1", "l2", "l3"})


@dataclass(frozen=True, slots=True)
class UsageRow:
    key_id: str
    day: str
    endpoint: str
    requests: int
    errors: int
    cache_hits: int
    upstream_calls: int
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "prefix": prefix_of(self.key_id),
            "day": self.day,
            "endpoint": self.endpoint,
            **{f: getattr(self, f) for f in FIELDS},
        }


class UsageMeter:
    def __init__(
        self,
        engine: AsyncEngine,
        store: DatabaseKeyStore,
        *,
        flush_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._store = store
        self.flush_interval = flush_interval
        self._clock = clock
        self._counters: dict[str, Callable[[str, str, int], None]] = {}
        # (key id, day, endpoint) -> [requests, errors, cache hits, upstream calls, bytes]
        self._pending: dict[tuple[str, str, str], list[int]] = {}
        self._last_used: dict[str, float] = {}
        # key id -> the same, since this process began, as of the last flush (for /metrics)
        self.totals: dict[str, list[int]] = {}
        self._day = ""
        self._day_ends = 0.0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def counter_for(self, key_id: str) -> Callable[[str, str, int], None]:
        """A ``(endpoint, tier, size)`` counter of answered (200) requests for one key, made
        once per key (the fast path calls it per request)."""
        counter = self._counters.get(key_id)
        if counter is None:

            def counter(endpoint: str, tier: str, size: int) -> None:
                self.count(key_id, endpoint, 200, tier, size)

            self._counters[key_id] = counter
        return counter

    def count(self, key_id: str, endpoint: str, status: int, tier: str | None, size: int) -> None:
        """One request made with ``key_id`` (refused ones too). Called on the hot path."""
        now = self._clock()
        if now >= self._day_ends:
            self._roll_day(now)
        slot = (key_id, self._day, endpoint)
        counts = self._pending.get(slot)
        if counts is None:
            counts = self._pending[slot] = [0, 0, 0, 0, 0]
        counts[0] += 1
        if status >= 400:
            counts[1] += 1
        if tier is not None:
            if tier in CACHE_TIERS:
                counts[2] += 1
            elif tier == "upstream":
                counts[3] += 1
        counts[4] += size
        self._last_used[key_id] = now

    def _roll_day(self, now: float) -> None:
        day_start = now - now % 86400
        self._day = time.strftime("%Y-%m-%d", time.gmtime(day_start))
        self._day_ends = day_start + 86400

    async def flush(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, {}
            last_used, self._last_used = self._last_used, {}
            if not pending:
                return
            rows = [
                dict(zip(("key_id", "day", "endpoint", *FIELDS), (*slot, *c), strict=True))
                for slot, c in pending.items()
            ]
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(self._upsert(), rows)
                await self._store.touch(last_used.items())
            except (SQLAlchemyError, KeyStoreError) as exc:
                log.warning("could not flush key usage (%s); retrying", type(exc).__name__)
                self._merge_back(pending, last_used)
                return
            _add(self.totals, pending)

    def current_totals(self) -> dict[str, list[int]]:
        """Per key: flushed totals plus what is still pending (read at scrape time)."""
        totals = {key_id: list(counts) for key_id, counts in self.totals.items()}
        _add(totals, self._pending)
        return totals

    def _merge_back(
        self, pending: dict[tuple[str, str, str], list[int]], last_used: dict[str, float]
    ) -> None:
        for slot, counts in pending.items():
            mine = self._pending.setdefault(slot, [0, 0, 0, 0, 0])
            for i, n in enumerate(counts):
                mine[i] += n
        for key_id, at in last_used.items():
            self._last_used[key_id] = max(at, self._last_used.get(key_id, at))

    def _upsert(self) -> Any:
        insert = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(client_key_usage)
        return stmt.on_conflict_do_update(
            index_elements=["key_id", "day", "endpoint"],
            set_={f: client_key_usage.c[f] + stmt.excluded[f] for f in FIELDS},
        )

    async def rows(self, key_id: str | None, since_day: str) -> list[UsageRow]:
        """Stored usage from ``since_day`` on, plus what this replica has not flushed yet."""
        query = select(client_key_usage).where(client_key_usage.c.day >= since_day)
        if key_id is not None:
            query = query.where(client_key_usage.c.key_id == key_id)
        try:
            async with self._engine.connect() as conn:
                stored = (await conn.execute(query)).mappings().all()
        except SQLAlchemyError as exc:
            raise KeyStoreError("could not read key usage") from exc
        merged: dict[tuple[str, str, str], list[int]] = {
            (r["key_id"], r["day"], r["endpoint"]): [int(r[f]) for f in FIELDS] for r in stored
        }
        for slot, counts in self._pending.items():
            if (key_id is None or slot[0] == key_id) and slot[1] >= since_day:
                mine = merged.setdefault(slot, [0, 0, 0, 0, 0])
                for i, n in enumerate(counts):
                    mine[i] += n
        return [UsageRow(*slot, *counts) for slot, counts in sorted(merged.items())]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="keys-usage-flush")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()


def _add(totals: dict[str, list[int]], pending: dict[tuple[str, str, str], list[int]]) -> None:
    for (key_id, _, _), counts in pending.items():
        total = totals.setdefault(key_id, [0, 0, 0, 0, 0])
        for i, n in enumerate(counts):
            total[i] += n


class UsageCollector(Collector):
    """``/metrics``: this process's totals per key prefix since it started (Prometheus
    counters: sum them over replicas; a restart resets them, which ``rate()`` handles)."""

    def __init__(self, meter: UsageMeter) -> None:
        self._meter = meter

    def collect(self) -> Iterator[CounterMetricFamily]:
        families = [
            CounterMetricFamily(
                f"marketsvc_client_key_{field}",
                f"Client key {field} (this process)",
                labels=["key"],
            )
            for field in FIELDS
        ]
        for key_id, counts in self._meter.current_totals().items():
            for family, n in zip(families, counts, strict=True):
                family.add_metric([prefix_of(key_id)], float(n))
        yield from families
