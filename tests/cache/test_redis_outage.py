"""Redis dies mid-load (a redis-server of our own, killed with SIGKILL): no request for a key
held in L1 or L3 fails, the breaker makes the dead L2 cost nothing, and when Redis comes back
the invalidation listener re-subscribes and flushes L1 (it may have missed clears)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from marketsvc.cache import (
    CacheKey,
    CachePolicy,
    DatabaseTier,
    MemoryTier,
    RedisCoordination,
    RedisTier,
    TierBreaker,
    TieredCache,
)
from marketsvc.db.engine import create_engine
from marketsvc.domain import DataType
from marketsvc.errors import ProviderUnavailableError
from tests.cache.helpers import CountingLoader, RedisServer, free_port, wait_until
from tests.fakes import FakeClock

POLICY = CachePolicy(fresh_ttl=30, stale_ttl=300)
KEYS = [CacheKey.of(DataType.PRICE, f"S{i}") for i in range(20)]


@pytest.fixture
async def server() -> AsyncIterator[RedisServer]:
    server = RedisServer(free_port())
    await server.start()
    yield server
    await server.kill()


async def test_redis_dying_mid_load_fails_no_request_held_in_l1_or_l3(
    server: RedisServer, sqlite_url: str, clock: FakeClock
) -> None:
    client = aioredis.from_url(
        server.url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
    )
    engine = create_engine(sqlite_url)
    l1 = MemoryTier(1000, 10_000_000, clock=clock)
    l2 = RedisTier(client, clock=clock, breaker=TierBreaker(base_open=0.5, max_open=0.5))
    coordination = RedisCoordination(l2, max_backoff=0.1)
    cache = TieredCache(
        [l1, l2, DatabaseTier(engine, clock=clock)], clock=clock, coordination=coordination
    )
    try:
        await cache.start()
        assert coordination.connected
        for key in KEYS:
            await cache.get_or_load(key, CountingLoader(key.symbol.encode()), POLICY)
        for key in KEYS[10:]:
            await l1.delete(key.text)  # these are now held in L2 and L3 only

        # Kill Redis while a load is in flight: the load still answers (L1 + L3 written).
        slow = CountingLoader(b"mid-load")
        slow.gate = asyncio.Event()
        in_flight = asyncio.create_task(
            cache.get_or_load(CacheKey.of(DataType.PRICE, "NEW"), slow, POLICY)
        )
        await asyncio.sleep(0.05)
        await server.kill()
        slow.gate.set()
        assert (await in_flight).entry.payload == b"mid-load"

        upstream_down = CountingLoader()
        upstream_down.error = ProviderUnavailableError("binance")
        answers = await asyncio.gather(
            *(cache.get_or_load(key, upstream_down, POLICY) for _ in range(20) for key in KEYS),
            return_exceptions=True,
        )
        failures = [a for a in answers if isinstance(a, BaseException)]
        assert failures == [] and len(answers) == 400
        assert {a.tier for a in answers if not isinstance(a, BaseException)} <= {"l1", "l3"}
        assert {a.entry.payload for a in answers if not isinstance(a, BaseException)} == {
            k.symbol.encode() for k in KEYS
        }
        assert upstream_down.calls == 0
        assert await wait_until(lambda: not coordination.connected, 2.0)
        assert (await l1.usage()).entries == 21  # the L3-only keys were promoted to L1
        assert (await cache.stats())["invalidation_channel"] == "down"

        # With the circuit open, going below L1 costs no Redis call: no new errors, only skips.
        before = (await cache.stats())["tiers"]["l2"]  # type: ignore[index]
        for key in KEYS:
            await l1.delete(key.text)
        below = [await cache.get_or_load(key, upstream_down, POLICY) for key in KEYS]
        assert {r.tier for r in below} == {"l3"}
        after = (await cache.stats())["tiers"]["l2"]  # type: ignore[index]
        assert after["errors"] == before["errors"]
        assert after["skipped"] - before["skipped"] == 40  # a read and a promotion per key

        # Redis returns: the listener re-subscribes and flushes L1; requests keep succeeding.
        await server.start()
        assert await wait_until(lambda: cache.counters.l1_flushes == 1, 3.0)
        assert (await cache.stats())["invalidation_channel"] == "up"
        assert (await l1.usage()).entries == 0
        await asyncio.sleep(0.6)  # past the breaker's break: the next call probes Redis
        again = [await cache.get_or_load(key, upstream_down, POLICY) for key in KEYS]
        assert {r.tier for r in again} == {"l3"} and upstream_down.calls == 0
        assert await l2.get(KEYS[0].text) is not None  # L2 is back in use (promotions)
    finally:
        await cache.aclose()
        await client.aclose()
        await engine.dispose()
