"""The shared limiter switching to local shares and back while Redis is healthy but answers
late (a replica under CPU load): three limiters, a real Redis behind a proxy that holds its
answers back, and every grant's time checked against the limit in every sliding window."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

import pytest

from marketsvc.domain import RateLimit
from marketsvc.planner import RedisLimiter
from tests.planner.test_redis_limiter import ClientFactory, TcpProxy, clients

__all__ = ["clients"]  # the fixture, shared with test_redis_limiter

LIMIT = RateLimit(4, 1.0, "second")
OP_TIMEOUT = 0.2
# As in production, the window is padded by more than a Redis answer may take to arrive.
CONFIGURED = (LIMIT.padded(0.3),)


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered if start <= t < start + window) for start in ordered), default=0
    )


async def _replicas(
    proxy: TcpProxy, namespace: str, clients: ClientFactory, failures: int = 3
) -> list[RedisLimiter]:
    limiters = [
        RedisLimiter(
            clients(f"redis://127.0.0.1:{proxy.port}/0"),
            prefix=namespace,
            replica_count=3,
            probe_interval=0.3,
            op_timeout=OP_TIMEOUT,
            failures_to_degrade=failures,
        )
        for _ in range(3)
    ]
    for limiter in limiters:
        await limiter.configure("p", CONFIGURED)
    return limiters


@pytest.mark.parametrize("failures", [1, 3])
async def test_slow_redis_switch_and_back_never_exceeds_the_limit(
    redis_url: str, redis_namespace: str, clients: ClientFactory, failures: int
) -> None:
    """``failures=1`` switches at the first late answer, so the window Redis just filled is
    still open: only counting those grants keeps the local shares under the limit."""
    target = urlparse(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    limiters = await _replicas(proxy, redis_namespace, clients, failures)
    grants: list[tuple[float, str]] = []  # (when the caller could send, phase)
    phase = "shared"
    stop = asyncio.Event()
    second_window = asyncio.Event()
    went_local: set[int] = set()

    async def caller(i: int, limiter: RedisLimiter) -> None:
        while not stop.is_set():
            wait = await limiter.reserve("p")
            if limiter.degraded:
                went_local.add(i)
            if wait == 0.0:
                grants.append((time.monotonic(), "local" if limiter.degraded else phase))
                if len(grants) >= 6:
                    second_window.set()
            else:
                await asyncio.sleep(min(wait, 0.1))

    # Replica 2 has no traffic until Redis slows down: nothing of the window's grants is its
    # own, so only what Redis told it (and the bound on what it did not) holds it back.
    tasks = [asyncio.create_task(caller(i, limiters[i])) for i in (0, 1) for _ in "ab"]
    try:
        await second_window.wait()  # its grants are being made right now
        await limiters[2].usage("p")  # what an idle replica last heard from Redis
        phase = "slow"
        proxy.reply_delay = 1.0  # five times the limiter's op timeout: every call times out
        tasks += [asyncio.create_task(caller(2, limiters[2])) for _ in "ab"]
        await asyncio.sleep(3.5)
        phase = "back"
        proxy.reply_delay = 0.0
        await asyncio.sleep(2.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await proxy.stop()

    times = [t for t, _ in grants]
    kinds = [k for _, k in grants]
    worst = most_in_any_window(times, LIMIT.window)
    print(
        f"\ngrants={len(grants)} by phase={ {k: kinds.count(k) for k in set(kinds)} } "
        f"most in any 1 s window={worst} (limit {LIMIT.limit})"
    )
    assert went_local == {0, 1, 2}, "every replica switched to its local share"
    assert kinds.count("local") >= 2, "grants were made on local shares"
    assert kinds.count("back") >= 2, "the replicas returned to Redis"
    assert kinds.count("shared") >= 4
    assert worst <= LIMIT.limit, f"{worst} grants within one second at {LIMIT}"
    assert not any(lim.degraded for lim in limiters)


async def test_one_slow_answer_does_not_switch_to_local_shares(
    redis_url: str, redis_namespace: str, clients: ClientFactory
) -> None:
    target = urlparse(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    limiters = await _replicas(proxy, redis_namespace, clients)
    try:
        assert await limiters[0].reserve("p") == 0.0
        proxy.reply_delay = 0.5
        slow = await limiters[0].reserve("p")  # times out: not granted, asked again soon
        proxy.reply_delay = 0.0
        assert 0 < slow <= 0.05
        assert not limiters[0].degraded
        # The timed-out call may have been granted in Redis: it is counted, never re-spent.
        await asyncio.sleep(0.05)
        granted = [await lim.reserve("p") for lim in limiters for _ in range(2)]
        assert granted.count(0.0) == 2, granted  # 4 - the first - the uncertain one
        assert not any(lim.degraded for lim in limiters)
    finally:
        await proxy.stop()
