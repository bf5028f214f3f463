"""L2: Redis, shared by every replica.

The client is created and closed by the caller — with short socket timeouts (~0.25 s) and
redis-py's own retries off (``retry=Retry(NoBackoff(), 0)``): redis-py 6 otherwise retries 3
times with up to 10 s of backoff, and here the breaker plus stale serving are the retry policy.
This tier only namespaces keys, encodes entries, batches, and translates failures.

Values are a compact binary envelope — a 26-byte header (version, fetched_at, fresh_until,
stale_until, source length), the source, then the payload bytes untouched — so a hit costs one
``struct.unpack`` rather than a JSON parse of a base64 payload. The TTL is the stale horizon,
so Redis itself drops entries that can no longer be served.

Every Redis or socket error becomes :class:`TierError`; a circuit breaker then turns a dead Redis
into an immediate ``TierError(skipped=True)`` (no connection attempt, ~1 µs) until a probe finds
it back.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from marketsvc.cache._breaker import TierBreaker
from marketsvc.cache.base import CacheEntry, TierError, TierUsage, check_prefix

T = TypeVar("T")

_VERSION = 1
_HEADER = struct.Struct(">BdddB")
_SCAN_BATCH = 500
_GLOB_SPECIAL = frozenset("*?[]\\^")

# Compare-and-set: keep the held value when it was fetched later than the new one (an older
# value never overwrites a newer one, even between replicas racing on the same key).
_SET_IF_NEWER = """
local old = redis.call('GET', KEYS[1])
if old and string.len(old) >= 9 and string.byte(old, 1) == 1 then
  local held = struct.unpack('>d', string.sub(old, 2, 9))
  if held > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""

# Errors that mean "the backend is unreachable or misbehaving" (redis-py raises its own
# ConnectionError/TimeoutError, but a raw socket or asyncio timeout can surface too).
BACKEND_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


def glob_escape(text: str) -> str:
    """Escape Redis' glob characters so ``text`` matches only itself in SCAN MATCH."""
    return "".join("\\" + ch if ch in _GLOB_SPECIAL else ch for ch in text)


def encode_entry(entry: CacheEntry) -> bytes:
    source = entry.source.encode()
    header = _HEADER.pack(
        _VERSION, entry.fetched_at, entry.fresh_until, entry.stale_until, len(source)
    )
    return header + source + entry.payload


def decode_entry(raw: bytes) -> CacheEntry | None:
    """The entry, or ``None`` for a value this version cannot read (treated as a miss)."""
    if len(raw) < _HEADER.size or raw[0] != _VERSION:
        return None
    _, fetched_at, fresh_until, stale_until, n = _HEADER.unpack_from(raw)
    start = _HEADER.size
    try:
        return CacheEntry(
            payload=raw[start + n :],
            source=raw[start : start + n].decode(),
            fetched_at=fetched_at,
            fresh_until=fresh_until,
            stale_until=stale_until,
        )
    except ValueError:  # bad UTF-8 or inconsistent instants: corrupt, so a miss
        return None


class RedisTier:
    name = "redis"

    def __init__(
        self,
        client: Redis,
        *,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        breaker: TierBreaker | None = None,
    ) -> None:
        self.client = client
        # Every key this tier (and RedisCoordination) touches starts with this prefix.
        self.prefix = f"{namespace}:" if namespace else ""
        self.breaker = breaker or TierBreaker()
        self._clock = clock
        self._monotonic = monotonic
        self._set_script = client.register_script(_SET_IF_NEWER)

    async def call(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation behind the breaker, translating every failure.

        ``op`` is a callable (not a coroutine) so that no coroutine is even created while the
        circuit is open. ``RedisCoordination`` shares this gate, hence public.
        """
        if not self.breaker.allow(self._monotonic()):
            raise TierError(self.name, "circuit open", skipped=True)
        try:
            result = await op()
        except BACKEND_ERRORS as exc:
            self.breaker.record_failure(self._monotonic())
            # The type name only: redis-py messages may carry host names or URLs.
            raise TierError(self.name, type(exc).__name__) from exc
        self.breaker.record_success()
        return result

    def _ttl_ms(self, entry: CacheEntry) -> int:
        return int((entry.stale_until - self._clock()) * 1000)

    def _live(self, raw: bytes | None, now: float) -> CacheEntry | None:
        # Redis' own TTL already drops dead entries; this also covers a writer whose clock ran
        # ahead of ours.
        entry = None if raw is None else decode_entry(raw)
        return entry if entry is not None and now < entry.stale_until else None

    async def get(self, key: str) -> CacheEntry | None:
        raw: bytes | None = await self.call(lambda: self.client.get(self.prefix + key))
        return self._live(raw, self._clock())

    async def get_many(self, keys: Sequence[str]) -> list[CacheEntry | None]:
        if not keys:
            return []
        full = [self.prefix + key for key in keys]
        raws: list[bytes | None] = await self.call(lambda: self.client.mget(full))
        now = self._clock()
        return [self._live(raw, now) for raw in raws]

    async def set(self, key: str, entry: CacheEntry) -> bool:
        ttl = self._ttl_ms(entry)
        if ttl < 1:
            return False
        args: list[bytes | str | int] = [encode_entry(entry), repr(entry.fetched_at), ttl]
        stored: Any = await self.call(lambda: self._set_script(keys=[self.prefix + key], args=args))
        return bool(stored)

    async def set_many(self, items: Sequence[tuple[str, CacheEntry]]) -> int:
        live = [(key, entry, self._ttl_ms(entry)) for key, entry in items]
        live = [item for item in live if item[2] >= 1]
        if not live:
            return 0

        async def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for key, entry, ttl in live:
                args: list[bytes | str | int] = [encode_entry(entry), repr(entry.fetched_at), ttl]
                await self._set_script(keys=[self.prefix + key], args=args, client=pipe)
            return await pipe.execute()

        return sum(bool(r) for r in await self.call(run))

    async def delete(self, key: str) -> None:
        await self.call(lambda: self.client.unlink(self.prefix + key))

    async def clear(self, prefix: str) -> int:
        check_prefix(prefix)
        pattern = glob_escape(self.prefix + prefix) + "*"

        async def run() -> int:
            removed = 0
            batch: list[bytes] = []
            async for found in self.client.scan_iter(match=pattern, count=_SCAN_BATCH):
                batch.append(found)
                if len(batch) >= _SCAN_BATCH:
                    removed += await self.client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self.client.unlink(*batch)
            return removed

        return await self.call(run)

    async def usage(self) -> TierUsage:
        # Counting one namespace means scanning the whole keyspace: not worth it per scrape.
        return TierUsage(entries=None, bytes=None)
