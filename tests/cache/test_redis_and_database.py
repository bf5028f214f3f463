"""Backend specifics beyond the contract: Redis namespacing, TTLs, corrupt values and the
breaker; the SQL expiry sweep; failures of either translated to TierError."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from marketsvc.cache import CacheEntry, CacheKey, CacheTier, DatabaseTier, RedisTier, TierError
from marketsvc.db.engine import create_engine
from marketsvc.domain import DataType
from tests.cache.helpers import free_port
from tests.fakes import FakeClock

KEY = CacheKey.of(DataType.PRICE, "BTC").text


def entry(clock: FakeClock, payload: bytes = b"v", stale: float = 300.0) -> CacheEntry:
    return CacheEntry(payload, "src", clock(), clock() + min(30.0, stale), clock() + stale)


async def test_redis_keys_are_namespaced_and_expire_at_the_stale_horizon(
    redis_client: aioredis.Redis, redis_namespace: str, clock: FakeClock
) -> None:
    tier = RedisTier(redis_client, namespace=redis_namespace, clock=clock)
    await tier.set(KEY, entry(clock, stale=120))
    keys = [k async for k in redis_client.scan_iter(match=f"{redis_namespace}:*")]
    assert keys == [f"{redis_namespace}:{KEY}".encode()]
    assert 119_000 < await redis_client.pttl(keys[0]) <= 120_000
    assert await redis_client.exists(KEY) == 0  # nothing outside the namespace


async def test_a_corrupt_or_foreign_redis_value_is_a_miss(
    redis_client: aioredis.Redis, redis_namespace: str, clock: FakeClock
) -> None:
    tier = RedisTier(redis_client, namespace=redis_namespace, clock=clock)
    await redis_client.set(f"{redis_namespace}:{KEY}", b"\x07not-an-entry", px=10_000)
    assert await tier.get(KEY) is None
    assert await tier.get_many([KEY]) == [None]


async def test_a_dead_redis_opens_the_breaker_and_then_costs_nothing(clock: FakeClock) -> None:
    client = aioredis.from_url(
        f"redis://127.0.0.1:{free_port()}",
        socket_connect_timeout=0.25,
        retry=Retry(NoBackoff(), 0),
    )
    tier = RedisTier(client, clock=clock)
    try:
        for _ in range(5):
            with pytest.raises(TierError) as failed:
                await tier.get(KEY)
            assert not failed.value.skipped and "127.0.0.1" not in str(failed.value)
        started = time.perf_counter()
        for _ in range(2000):
            with pytest.raises(TierError) as skipped:
                await tier.get(KEY)
            assert skipped.value.skipped
        per_call = (time.perf_counter() - started) / 2000
        assert per_call < 100e-6  # no connection attempt while open (measured ≈ 2 µs)
    finally:
        await client.aclose()


@pytest.mark.parametrize("tier_spec", ["postgres", "sqlite"], indirect=True)
async def test_sweep_deletes_only_rows_past_their_stale_horizon(
    tier: CacheTier, clock: FakeClock
) -> None:
    assert isinstance(tier, DatabaseTier)
    await tier.set_many(
        [
            (CacheKey.of(DataType.PRICE, f"S{i}").text, entry(clock, stale=10 * (i + 1)))
            for i in range(5)
        ]
    )
    assert await tier.sweep(clock() + 25) == 2  # stale at +10 and +20
    assert (await tier.usage()).entries == 3
    assert await tier.sweep(clock() + 25) == 0


async def test_database_failures_become_tier_errors(clock: FakeClock) -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    tier = DatabaseTier(engine, clock=clock)
    try:
        with pytest.raises(TierError) as failed:
            await tier.get(KEY)
        assert failed.value.tier == "database" and "127.0.0.1" not in str(failed.value)
        with pytest.raises(TierError):
            await tier.set(KEY, entry(clock))
    finally:
        await engine.dispose()
