"""Key records held in memory on every replica, so checking a key costs no database round trip.

The hot path is one dict lookup. A miss (a key created since the last refresh, or a made-up
id) reads the database once, and an id found nowhere is remembered as unknown for a few
seconds; misses beyond a small budget per second are refused without asking the database, so
a flood of made-up keys cannot turn into a flood of queries.

Changes reach every replica through a Redis pub/sub channel (the message is the key id; each
replica re-reads that record). A listener that lost its connection may have missed messages,
so each re-subscription reloads every record; a periodic reload backs that up, and is the only
path when there is no Redis (one process: its own changes apply directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from cachetools import TTLCache
from redis.exceptions import RedisError

from marketsvc.domain import RateLimit
from marketsvc.keys.model import ClientKey
from marketsvc.keys.store import DatabaseKeyStore, KeyStoreError
from marketsvc.planner import SlidingWindowLimiter

log = logging.getLogger(__name__)

_REDIS_ERRORS = (RedisError, OSError)


class KeyCache:
    def __init__(
        self,
        store: DatabaseKeyStore,
        *,
        redis: aioredis.Redis | None = None,
        channel: str = "marketsvc:keys:changed",
        refresh_interval: float = 10.0,
        unknown_ttl: float = 5.0,
        misses_per_second: int = 50,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.records: dict[str, ClientKey] = {}
        self._store = store
        self._redis = redis
        self.channel = channel
        self._refresh_interval = refresh_interval
        self._unknown: TTLCache[str, bool] = TTLCache(maxsize=10_000, ttl=unknown_ttl)
        # The planner's sliding-window arithmetic, here as a budget for database misses.
        self._miss_budget = SlidingWindowLimiter([RateLimit(misses_per_second, 1.0, "second")])
        self._monotonic = monotonic
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()

    async def lookup(self, key_id: str) -> ClientKey | None:
        """The record for ``key_id``, from memory or (on a miss) the database."""
        record = self.records.get(key_id)
        if record is not None or key_id in self._unknown:
            return record
        if self._miss_budget.reserve(1, self._monotonic()) > 0.0:
            return None
        record = await self._store.get(key_id)
        if record is None:
            self._unknown[key_id] = True
        else:
            self.records[key_id] = record
        return record

    def put(self, record: ClientKey) -> None:
        self._unknown.pop(record.id, None)
        self.records[record.id] = record

    async def announce(self, key_id: str) -> None:
        """Tell every other replica that ``key_id`` changed (best effort: the periodic reload
        catches up if Redis is away)."""
        if self._redis is None:
            return
        try:
            await self._redis.publish(self.channel, key_id)
        except _REDIS_ERRORS as exc:
            log.warning("could not announce a key change (%s)", type(exc).__name__)

    async def reload(self, key_id: str) -> None:
        record = await self._store.get(key_id)
        if record is None:
            self.records.pop(key_id, None)
        else:
            self.put(record)

    async def reload_all(self) -> None:
        records = {r.id: r for r in await self._store.all()}
        self.records = records
        self._unknown.clear()

    async def start(self) -> None:
        await self.reload_all()
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="keys-refresh"))
        if self._redis is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="keys-listen"))
            # Changes made on other replicas from now on must reach us: wait (briefly) until
            # the subscription is in place before serving.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self.subscribed.wait()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval)
            try:
                await self.reload_all()
            except KeyStoreError as exc:
                log.warning("could not reload client keys (%s)", type(exc.__cause__).__name__)

    async def _listen(self) -> None:
        assert self._redis is not None
        backoff = 0.05
        subscribed_before = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        if subscribed_before:
                            await self.reload_all()  # we may have missed changes
                        subscribed_before = True
                        backoff = 0.05
                        self.subscribed.set()
                    elif msg["type"] == "message":
                        key_id = msg["data"].decode("ascii", "replace")[:32]
                        await self.reload(key_id)
            except (*_REDIS_ERRORS, KeyStoreError) as exc:
                log.warning("client key change channel lost (%s)", type(exc).__name__)
            finally:
                with contextlib.suppress(*_REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(1.0, backoff * 2)
