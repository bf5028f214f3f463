"""RedisLimiter against the real Redis: replicas racing, Retry-After, falling back and back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from marketsvc.domain import RateLimit
from marketsvc.errors import CallTooHeavyError, ConfigError
from marketsvc.planner import RedisLimiter
from marketsvc.planner.redis_limiter import window_key

ClientFactory = Callable[[str], aioredis.Redis]


def quick_client(url: str) -> aioredis.Redis:
    # No redis-py retries with seconds of backoff: an unreachable server must fail fast.
    return aioredis.from_url(
        url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


@pytest.fixture
async def clients() -> AsyncIterator[ClientFactory]:
    made: list[aioredis.Redis] = []

    def make(url: str) -> aioredis.Redis:
        made.append(quick_client(url))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


async def replicas(
    n: int, url: str, prefix: str, limits: tuple[RateLimit, ...], make: ClientFactory
) -> list[RedisLimiter]:
    limiters = [RedisLimiter(make(url), prefix=prefix, replica_count=n) for _ in range(n)]
    for limiter in limiters:
        await limiter.configure("p", limits)
    return limiters


async def test_replicas_racing_never_exceed_the_limit_together(
    redis_url: str, redis_namespace: str, redis_client: aioredis.Redis, clients: ClientFactory
) -> None:
    limits = (RateLimit(20, 60.0, "minute"),)
    limiters = await replicas(3, redis_url, redis_namespace, limits, clients)
    results = await asyncio.gather(*(lim.reserve("p") for lim in limiters for _ in range(50)))
    assert sum(1 for wait in results if wait == 0.0) == 20  # not 21, and not fewer
    assert all(0 < wait <= 60.0 for wait in results if wait)
    assert [u.used for u in await limiters[0].usage("p")] == [20]
    assert await redis_client.zcard(window_key(redis_namespace, "p", 60.0)) == 20
    assert not any(lim.degraded for lim in limiters)


async def test_sliding_windows_hold_on_redis_clock(
    redis_url: str, redis_namespace: str, redis_client: aioredis.Redis, clients: ClientFactory
) -> None:
    limits = (RateLimit(5, 0.5, "x"), RateLimit(1000, 30.0, "x"))
    limiters = await replicas(3, redis_url, redis_namespace, limits, clients)
    grants = 0
    stop = time.monotonic() + 1.6

    async def replica(limiter: RedisLimiter) -> None:
        nonlocal grants
        while time.monotonic() < stop:
            wait = await limiter.reserve("p")
            if wait == 0.0:
                grants += 1
            else:
                await asyncio.sleep(wait)

    await asyncio.gather(*(replica(lim) for lim in limiters))
    # The 30 s window still holds every grant, scored with Redis' own time.
    scores = [
        s
        for _, s in await redis_client.zrange(
            window_key(redis_namespace, "p", 30.0), 0, -1, withscores=True
        )
    ]
    assert len(scores) == grants
    assert grants >= 12  # about 5 per 0.5 s were available: the replicas did use them
    for start in scores:
        assert sum(1 for t in scores if start <= t < start + 0.5) <= 5


async def test_weights_are_counted(
    redis_url: str, redis_namespace: str, clients: ClientFactory
) -> None:
    a, b, c = await replicas(
        3, redis_url, redis_namespace, (RateLimit(10, 60.0, "minute"),), clients
    )
    assert await a.reserve("p", 6) == 0.0
    assert 59.0 < await b.reserve("p", 5) <= 60.0
    assert await c.reserve("p", 4) == 0.0
    assert [u.left for u in await a.usage("p")] == [0]
    with pytest.raises(CallTooHeavyError, match="weight 11"):
        await a.reserve("p", 11)


async def test_retry_after_on_one_replica_blocks_the_others(
    redis_url: str, redis_namespace: str, clients: ClientFactory
) -> None:
    a, b = await replicas(2, redis_url, redis_namespace, (RateLimit(100, 1.0, "second"),), clients)
    await a.block_for("p", 0.6)
    await a.block_for("p", 0.1)  # a shorter Retry-After never shortens the block
    wait = await b.reserve("p")
    assert 0.4 < wait <= 0.6
    await asyncio.sleep(wait)
    assert await b.reserve("p") == 0.0


async def test_unreachable_redis_falls_back_to_a_local_share(clients: ClientFactory) -> None:
    limiter = RedisLimiter(
        clients("redis://127.0.0.1:1/0"),
        replica_count=3,
        probe_interval=60,
        failures_to_degrade=2,
        op_timeout=0.1,
    )
    await limiter.configure("p", (RateLimit(9, 0.5, "x"), RateLimit(100, 86400.0, "day")))
    # Two failures in a row before it calls Redis away; meanwhile callers wait a moment.
    assert 0 < await limiter.reserve("p") <= 0.05
    assert not limiter.degraded
    # Then local shares (9 / 3 replicas), never "unlimited": but first the window is waited
    # out, since the other replicas may have spent it just before Redis went.
    assert 0.4 < await limiter.reserve("p") <= 0.5
    assert limiter.degraded
    await asyncio.sleep(0.5)
    waits = [await limiter.reserve("p") for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] > 0
    # The day window counts the 9 units the others may have been granted meanwhile.
    assert [(u.limit.limit, u.used) for u in await limiter.usage("p")] == [(3, 3), (33, 12)]
    await limiter.block_for("p", 1.0)  # does not raise either


async def test_unconfigured_provider_is_refused(
    redis_url: str, redis_namespace: str, clients: ClientFactory
) -> None:
    limiter = RedisLimiter(clients(redis_url), prefix=redis_namespace)
    with pytest.raises(ConfigError):
        await limiter.reserve("nobody")


class TcpProxy:
    """Forwards a local port to Redis; stopping it looks like Redis going away, and a
    ``reply_delay`` like a healthy Redis answering late (a replica under CPU load): commands
    still reach Redis at once and run, only their answers are held back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.reply_delay = 0.0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        pipes = [
            asyncio.ensure_future(_pipe(reader, up_writer)),
            asyncio.ensure_future(_pipe(up_reader, writer, self)),
        ]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proxy: TcpProxy | None = None
) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            if proxy is not None and proxy.reply_delay:
                await asyncio.sleep(proxy.reply_delay)
            writer.write(data)
            await writer.drain()
    writer.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 3.0) -> None:
    end = time.monotonic() + within
    while not await check():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_falls_back_while_redis_is_away_and_returns_to_it(
    redis_url: str, redis_namespace: str, redis_client: aioredis.Redis, clients: ClientFactory
) -> None:
    target = urlparse(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    limiter = RedisLimiter(
        clients(f"redis://127.0.0.1:{proxy.port}/0"),
        prefix=redis_namespace,
        replica_count=2,
        probe_interval=0.05,
        failures_to_degrade=1,
    )
    await limiter.configure("p", (RateLimit(10, 0.5, "x"), RateLimit(100, 60.0, "minute")))
    key = window_key(redis_namespace, "p", 60.0)
    try:
        assert await limiter.reserve("p") == 0.0
        assert await redis_client.zcard(key) == 1

        await proxy.stop()
        assert await limiter.reserve("p") > 0  # the short window is waited out first
        assert limiter.degraded
        await asyncio.sleep(0.5)
        # Local share is 10 / 2 = 5 per half second.
        waits = [await limiter.reserve("p") for _ in range(6)]
        assert waits[:5] == [0.0] * 5 and waits[5] > 0
        assert await redis_client.zcard(key) == 1

        await proxy.start()  # same port: Redis is back
        await eventually(lambda: _granted_through_redis(limiter, redis_client, key))
        assert not limiter.degraded
        # Redis was told of the 5 local grants, and of what the other replica may have
        # granted on its own share meanwhile (at most 5 more).
        used = [u.used for u in await limiter.usage("p")]
        assert used[1] >= 1 + 5 + 5 + 1
    finally:
        await proxy.stop()


async def _granted_through_redis(limiter: RedisLimiter, client: aioredis.Redis, key: str) -> bool:
    before = await client.zcard(key)
    await limiter.reserve("p")
    return bool(await client.zcard(key) > before)
