"""Two replicas in one process sharing the real Redis: each with its own L1, its own client
and its own invalidation listener — invalidation reaches the other's L1 within 1 s, and the
load lease lets only one replica call upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from marketsvc.cache import (
    CacheKey,
    CachePolicy,
    MemoryTier,
    RedisCoordination,
    RedisTier,
    TieredCache,
)
from marketsvc.domain import DataType
from marketsvc.errors import ProviderUnavailableError
from tests.cache.helpers import CountingLoader, wait_until
from tests.fakes import FakeClock

POLICY = CachePolicy(fresh_ttl=30, stale_ttl=300)
KEY = CacheKey.of(DataType.PRICE, "BTC")


@dataclass
class Replica:
    l1: MemoryTier
    cache: TieredCache
    client: aioredis.Redis


async def _replica(url: str, namespace: str, clock: FakeClock) -> Replica:
    client = aioredis.from_url(url, socket_timeout=1.0)
    l1 = MemoryTier(100, 1_000_000, clock=clock)
    l2 = RedisTier(client, namespace=namespace, clock=clock)
    coordination = RedisCoordination(l2, lease_wait=2.0, poll_interval=0.02)
    cache = TieredCache([l1, l2], clock=clock, coordination=coordination)
    await cache.start()
    assert coordination.connected
    return Replica(l1, cache, client)


@pytest.fixture
async def replicas(
    redis_url: str, redis_namespace: str, clock: FakeClock, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[Replica, Replica]]:
    # redis_client is requested for its clean-up of the namespace.
    a = await _replica(redis_url, redis_namespace, clock)
    b = await _replica(redis_url, redis_namespace, clock)
    yield a, b
    for r in (a, b):
        await r.cache.aclose()
        await r.client.aclose()


async def test_a_clear_on_one_replica_reaches_the_others_l1_within_a_second(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    eth = CacheKey.of(DataType.PRICE, "ETH")
    for key in (KEY, eth):
        await a.cache.get_or_load(key, CountingLoader(b"v"), POLICY)
        assert (await b.cache.get_or_load(key, CountingLoader(b"never"), POLICY)).tier == "l2"
        assert b.l1.peek(key.text) is not None  # promoted into B's own L1
    loop = asyncio.get_running_loop()
    started = loop.time()
    report = await a.cache.invalidate(symbol="BTC")
    assert report.failed == ()
    assert await wait_until(lambda: b.l1.peek(KEY.text) is None, 2.0)
    assert loop.time() - started < 1.0
    assert b.l1.peek(KEY.text) is None and b.l1.peek(eth.text) is not None
    assert b.cache.counters.remote_invalidations == 1
    assert a.cache.counters.remote_invalidations == 0  # its own message is ignored


async def test_concurrent_misses_on_two_replicas_make_one_upstream_call(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    loaders = [CountingLoader(b"one"), CountingLoader(b"two")]
    gate = asyncio.Event()
    for loader in loaders:
        loader.gate = gate
    first = asyncio.create_task(a.cache.get_or_load(KEY, loaders[0], POLICY))
    second = asyncio.create_task(b.cache.get_or_load(KEY, loaders[1], POLICY))
    await asyncio.sleep(0.1)  # both have tried the lease by now
    gate.set()
    results = await asyncio.gather(first, second)
    assert loaders[0].calls + loaders[1].calls == 1
    assert {r.entry.payload for r in results} <= {b"one", b"two"}
    assert len({r.entry.payload for r in results}) == 1
    assert sorted(r.tier for r in results) == ["l2", "upstream"]


async def test_when_the_lease_holder_fails_the_waiting_replica_loads_itself(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    failing = CountingLoader()
    failing.error = ProviderUnavailableError("binance")
    failing.gate = asyncio.Event()
    holder = asyncio.create_task(a.cache.get_or_load(KEY, failing, POLICY))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(b.cache.get_or_load(KEY, CountingLoader(b"b-loaded"), POLICY))
    await asyncio.sleep(0.05)
    failing.gate.set()
    with pytest.raises(ProviderUnavailableError):
        await holder
    result = await waiting
    assert (result.tier, result.entry.payload) == ("upstream", b"b-loaded")


async def test_stale_on_both_replicas_refreshes_upstream_once(
    replicas: tuple[Replica, Replica], clock: FakeClock
) -> None:
    """Both replicas hold the same entry and see it go stale at the same instant; the second
    refresh finds the first one's fresh value in L2 under the lease and does not call upstream
    (measured in the benchmark: without this, 3 replicas fetched each key 2× the floor)."""
    a, b = replicas
    first = CountingLoader(b"v1")
    await a.cache.get_or_load(KEY, first, POLICY)
    await b.cache.get_or_load(KEY, first, POLICY)  # promoted from L2 into b's L1
    assert first.calls == 1
    clock.advance(31)  # past fresh, inside the revalidation window
    refresh = CountingLoader(b"v2")
    stale_a = await a.cache.get_or_load(KEY, refresh, POLICY)
    assert stale_a.stale
    assert await wait_until(lambda: refresh.calls == 1, within=2.0)
    await asyncio.sleep(0.05)
    stale_b = await b.cache.get_or_load(KEY, refresh, POLICY)
    assert stale_b.stale
    await asyncio.sleep(0.3)
    assert refresh.calls == 1, "the second replica refreshed upstream again"
    again = await b.cache.get_or_load(KEY, refresh, POLICY)
    assert again.entry.payload == b"v2" and not again.stale
