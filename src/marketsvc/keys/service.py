"""``KeyService``: client keys as one object for the API, the CLI and the container.

``authenticate`` and ``admit`` are the request path (memory, plus the limiter's one Redis
round trip for a key with limits); the rest is administration, where each change is written
to the database first and then announced to every replica.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.domain import Priority, RateLimit
from marketsvc.keys.cache import KeyCache
from marketsvc.keys.hashing import hash_key, id_of, matches, new_id, new_key
from marketsvc.keys.limits import Admission, CountingLimiter, KeyLimits
from marketsvc.keys.metering import UsageMeter, UsageRow
from marketsvc.keys.model import ClientKey, Refusal, Scope
from marketsvc.keys.store import DatabaseKeyStore
from marketsvc.planner import LocalLimiter, RedisLimiter

audit = logging.getLogger("marketsvc.audit")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as handed out, once: the record and the key in clear (kept nowhere else)."""

    record: ClientKey
    key: str


class KeyService:
    def __init__(
        self,
        store: DatabaseKeyStore,
        cache: KeyCache,
        limits: KeyLimits,
        meter: UsageMeter,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.cache = cache
        self.limits = limits
        self.meter = meter
        self._clock = clock
        # Keys accepted by the fast path, by their presented text, with the record they were
        # checked against (process memory only; never logged, stored or sent anywhere).
        self._verified: dict[str, ClientKey] = {}

    # -- the request path ---------------------------------------------------------------

    async def authenticate(
        self, presented: str, scope: Scope
    ) -> tuple[ClientKey | None, Refusal | None]:
        """The key's record and why it is refused (None: accepted); no record and
        ``Refusal.INVALID`` when it is not one of ours."""
        key_id = id_of(presented)
        if key_id is None:
            return None, Refusal.INVALID
        record = self.cache.records.get(key_id) or await self.cache.lookup(key_id)
        if record is None or not matches(presented, record.key_hash):
            return None, Refusal.INVALID
        return record, record.refusal(self._clock(), scope)

    def accepted_in_memory(self, presented: str, scope: Scope) -> ClientKey | None:
        """The key's record when it is held in memory, valid, in scope and without limits —
        what the fast path may answer at once; None sends the request the normal way (where
        a database lookup, a limit or a refusal is handled)."""
        key_id = id_of(presented)
        record = self.cache.records.get(key_id) if key_id is not None else None
        if record is None or record.limits:
            return None
        # The hash is compared once per record version: a rotation or an update replaces the
        # record object, so a remembered match never outlives the key it was made for.
        if self._verified.get(presented) is not record:
            if not matches(presented, record.key_hash):
                return None
            if len(self._verified) >= 4096:
                self._verified.clear()
            self._verified[presented] = record
        if record.revoked_at is None and record.expires_at is None and scope in record.scopes:
            return record
        return record if record.refusal(self._clock(), scope) is None else None

    async def admit(self, record: ClientKey) -> Admission | None:
        return await self.limits.admit(record)

    # -- administration ---------------------------------------------------------------

    async def create(
        self,
        name: str,
        *,
        scopes: frozenset[Scope] = frozenset({Scope.READ}),
        rate_limit: RateLimit | None = None,
        quota: RateLimit | None = None,
        expires_at: float | None = None,
        priority: Priority | None = None,
    ) -> IssuedKey:
        key_id = new_id()
        key = new_key(key_id)
        record = ClientKey(
            id=key_id,
            name=name,
            key_hash=hash_key(key),
            scopes=scopes,
            rate_limit=rate_limit,
            quota=quota,
            priority=priority,
            created_at=self._clock(),
            expires_at=expires_at,
        )
        await self.store.insert(record)
        await self._changed(record, "created")
        return IssuedKey(record, key)

    async def all(self) -> list[ClientKey]:
        return await self.store.all()

    async def revoke(self, key_id: str) -> ClientKey | None:
        current = await self.store.get(key_id)
        if current is None or current.revoked_at is not None:
            return current
        record = await self.store.set_fields(key_id, revoked_at=self._clock())
        if record is not None:
            await self._changed(record, "revoked")
        return record

    async def rotate(self, key_id: str) -> IssuedKey | None:
        """A new secret for the same id (limits, usage and windows carry over); the old key is
        refused from now on. A revoked key cannot be rotated back to life (None)."""
        current = await self.store.get(key_id)
        if current is None or current.revoked_at is not None:
            return None
        key = new_key(key_id)
        record = await self.store.set_fields(
            key_id, key_hash=hash_key(key), rotated_at=self._clock()
        )
        if record is None:
            return None
        await self._changed(record, "rotated")
        return IssuedKey(record, key)

    async def usage(self, key_id: str | None, days: int) -> list[UsageRow]:
        now = self._clock()
        since = time.strftime("%Y-%m-%d", time.gmtime(now - (days - 1) * 86400))
        return await self.meter.rows(key_id, since)

    async def _changed(self, record: ClientKey, what: str) -> None:
        self.cache.put(record)
        await self.cache.announce(record.id)
        audit.info("client key %s", what, extra={"audit": True, "key": record.prefix})

    async def start(self) -> None:
        await self.cache.start()
        await self.meter.start()

    async def aclose(self) -> None:
        await self.meter.aclose()
        await self.cache.aclose()


def key_limiter(
    redis: aioredis.Redis | None, namespace: str, replica_count: int
) -> CountingLimiter:
    if redis is None:
        return LocalLimiter()
    return RedisLimiter(redis, prefix=f"{namespace}:keylimits", replica_count=replica_count)


def admin_service(engine: AsyncEngine, redis: aioredis.Redis | None, namespace: str) -> KeyService:
    """A service for administration only (the CLI): it announces changes but neither listens
    nor meters, so it needs no start."""
    store = DatabaseKeyStore(engine)
    cache = KeyCache(store, redis=redis, channel=f"{namespace}:keys:changed")
    return KeyService(store, cache, KeyLimits(LocalLimiter()), UsageMeter(engine, store))


@asynccontextmanager
async def open_key_service(
    engine: AsyncEngine,
    redis: aioredis.Redis | None,
    *,
    namespace: str = "marketsvc:v1",
    replica_count: int = 1,
    flush_interval: float = 1.0,
) -> AsyncIterator[KeyService]:
    """The service with its cache listening and its meter flushing; both stop on exit (the
    meter flushes once more first)."""
    store = DatabaseKeyStore(engine)
    cache = KeyCache(store, redis=redis, channel=f"{namespace}:keys:changed")
    service = KeyService(
        store,
        cache,
        KeyLimits(key_limiter(redis, namespace, replica_count)),
        UsageMeter(engine, store, flush_interval=flush_interval),
    )
    async with AsyncExitStack() as stack:
        await service.start()
        stack.push_async_callback(service.aclose)
        yield service
