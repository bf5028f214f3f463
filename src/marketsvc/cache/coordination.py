"""Cross-replica coordination over the L2 Redis: load leases and the invalidation channel.

- **Lease** (``SET NX PX``): before calling upstream for a key, a replica takes a short lease;
  a replica that finds the lease taken polls L2 briefly for the holder's result instead of
  calling upstream too, and loads itself if nothing appears (the holder may have died).
- **Invalidation channel** (pub/sub): a clear on one replica is published so every replica
  drops the same prefixes from its L1. A subscriber that lost its connection may have missed
  messages, so every *re*-subscription (ours after an error, or redis-py's transparent
  reconnect, both confirmed by a fresh ``subscribe`` message) flushes L1 entirely.

Lease and publish calls go through the ``RedisTier`` breaker (a dead Redis costs nothing); the
listener has its own reconnect loop with capped backoff on a dedicated pub/sub connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from marketsvc.cache.base import KEY_ROOT
from marketsvc.cache.redis import BACKEND_ERRORS, RedisTier

log = logging.getLogger(__name__)

# Delete the lease only if it is still ours (it may have expired and been taken by another).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCoordination:
    def __init__(
        self,
        tier: RedisTier,
        *,
        lease_ttl: float = 5.0,
        lease_wait: float = 2.0,
        poll_interval: float = 0.05,
        max_backoff: float = 0.5,
        replica_id: str | None = None,
    ) -> None:
        self.tier = tier
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.replica_id = replica_id or uuid.uuid4().hex
        self.channel = f"{tier.prefix}{KEY_ROOT}invalidate"
        self.connected = False
        self._release = tier.client.register_script(_RELEASE)

    def _lease_key(self, key: str) -> str:
        return f"{self.tier.prefix}marketsvc:lease:{key.removeprefix('marketsvc:')}"

    async def acquire(self, key: str) -> str | None:
        """A lease token, or ``None`` when another replica holds the lease.
        Raises ``TierError`` when Redis cannot say (the caller then loads on its own)."""
        token = uuid.uuid4().hex
        client = self.tier.client
        px = max(1, int(self.lease_ttl * 1000))
        ok = await self.tier.call(lambda: client.set(self._lease_key(key), token, nx=True, px=px))
        return token if ok else None

    async def release(self, key: str, token: str) -> None:
        await self.tier.call(lambda: self._release(keys=[self._lease_key(key)], args=[token]))

    async def held(self, key: str) -> bool:
        return bool(await self.tier.call(lambda: self.tier.client.exists(self._lease_key(key))))

    async def publish(self, prefixes: Sequence[str]) -> None:
        message = orjson.dumps({"origin": self.replica_id, "prefixes": list(prefixes)})
        await self.tier.call(lambda: self.tier.client.publish(self.channel, message))

    def _prefixes(self, data: Any) -> list[str]:
        try:
            message = orjson.loads(data)
            if message.get("origin") == self.replica_id:
                return []  # our own clear: our L1 is already clean
            prefixes = [p for p in message["prefixes"] if isinstance(p, str)]
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            log.warning("ignoring a malformed cache invalidation message")
            return []
        # Only our own key space, so a stray publisher cannot flush arbitrary keys.
        return [p for p in prefixes if p.startswith(KEY_ROOT)]

    async def listen(
        self,
        on_prefixes: Callable[[list[str]], Awaitable[None]],
        on_resubscribed: Callable[[], Awaitable[None]],
        ready: asyncio.Event,
    ) -> None:
        """Run until cancelled: apply remote invalidations; flush on every re-subscription."""
        backoff = 0.05
        subscribed_before = False
        while True:
            pubsub = self.tier.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        if subscribed_before:
                            await on_resubscribed()
                        subscribed_before = True
                        self.connected = True
                        backoff = 0.05
                        ready.set()
                    elif msg["type"] == "message":
                        prefixes = self._prefixes(msg["data"])
                        if prefixes:
                            await on_prefixes(prefixes)
            except BACKEND_ERRORS as exc:
                self.connected = False
                log.warning("cache invalidation channel lost (%s)", type(exc).__name__)
            except Exception:
                # A bug in a callback must not end the listener: replicas would silently stop
                # hearing clears. Treat it like a drop (the re-subscription flushes L1).
                self.connected = False
                log.exception("cache invalidation listener failed; restarting")
            finally:
                # A dead connection has nothing left to release.
                with contextlib.suppress(*BACKEND_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff, backoff * 2)
