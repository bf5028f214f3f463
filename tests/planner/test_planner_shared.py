"""Two planners (replicas) sharing one provider budget through the real Redis, real time."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from marketsvc.domain import RateLimit
from marketsvc.errors import RateLimitedError
from marketsvc.planner import CallPlanner, RedisLimiter, RetryPolicy
from marketsvc.planner.redis_limiter import window_key

LIMITS = (RateLimit(6, 0.5, "x"), RateLimit(1000, 30.0, "x"))


@pytest.fixture
async def replicas(redis_url: str, redis_namespace: str) -> AsyncIterator[list[CallPlanner]]:
    clients = [aioredis.from_url(redis_url, retry=Retry(NoBackoff(), 0)) for _ in range(2)]
    planners = [
        CallPlanner(
            RedisLimiter(c, prefix=redis_namespace, replica_count=2), retry=RetryPolicy(base=0.01)
        )
        for c in clients
    ]
    for planner in planners:
        await planner.configure("p", LIMITS)
        await planner.start()
    yield planners
    for planner in planners:
        await planner.aclose()
    for client in clients:
        await client.aclose()


async def test_replicas_share_the_budget_and_answer_everyone(
    replicas: list[CallPlanner], redis_namespace: str, redis_client: aioredis.Redis
) -> None:
    async def work(i: int) -> int:
        return i

    offered = 36  # 6 per 0.5 s: about 3 s of budget split between two processes
    results = await asyncio.gather(
        *(replicas[i % 2].call("p", functools.partial(work, i)) for i in range(offered))
    )
    assert results == list(range(offered))
    key = window_key(redis_namespace, "p", 30.0)
    scores = [s for _, s in await redis_client.zrange(key, 0, -1, withscores=True)]
    assert len(scores) == offered
    assert max(sum(1 for t in scores if s <= t < s + 0.5) for s in scores) <= 6


async def test_retry_after_from_one_replica_stops_the_other(replicas: list[CallPlanner]) -> None:
    a, b = replicas
    seen: list[float] = []
    throttled_once = asyncio.Event()

    async def throttled() -> str:
        seen.append(time.monotonic())
        if len(seen) == 1:
            throttled_once.set()
            raise RateLimitedError("p", retry_after=0.8)
        return "ok"

    async def plain() -> str:
        seen.append(time.monotonic())
        return "b"

    first = asyncio.ensure_future(a.call("p", throttled))
    await throttled_once.wait()
    assert await b.call("p", plain) == "b"  # the other replica honours the block too
    assert await first == "ok"
    assert all(t - seen[0] >= 0.75 for t in seen[1:])
    assert (await a.stats())["p"].rate_limited == 1
