"""The service's own redis-server is stopped mid-load and started again (empty: no persistence).

L1 holds 8 entries and the load cycles over 24 cached prices, so nearly every answer comes
from L2 (Redis) before the outage and from L3 (PostgreSQL) during it. A second stream of
``force_refresh`` stock requests goes upstream throughout, through the rate limiter that must
fall back from Redis to its local share.

Figures held: failed requests = 0 for cached keys during the outage; failed upstream requests
= 0; calls over limit = 0; seconds from redis-server's restart until L2 hits resume (measured,
< 10 s in the short form) and until /readyz is 200 again.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from marketsvc.symbols import TOP_COINS
from tests._services import RedisServer
from tests.reliability._load import (
    Recorder,
    load_client,
    percentile,
    scaled,
    wait_for,
    warm_then_sustain,
)
from tests.reliability.conftest import STOCK_SYMBOLS, Emulator, Service, ServiceFactory

pytestmark = pytest.mark.reliability

KEYS = sorted(TOP_COINS)[:24]
# One upstream request per pause: the long form slows down so that Finnhub (60/minute) alone
# serves them and no fallback is pushed to its limit (that case has its own test).
UPSTREAM_PAUSE = scaled(0.25, 1.2)
# The cache's Redis breaker re-probes after 1, 2, 4 ... s (capped at 30 s), so the longer the
# outage, the longer the wait for the first probe after Redis is back.
RECOVERY_LIMIT = scaled(10.0, 35.0)


async def _ready(svc: Service) -> int:
    return await asyncio.to_thread(svc.ready_status)


async def test_redis_stop_and_restart_mid_load(
    emulator: Emulator, start_service: ServiceFactory, redis_server: RedisServer
) -> None:
    """Figure: 0 failed requests for cached keys and 0 for upstream ones across the outage;
    L2 hits resume < 10 s (short form) after redis-server is back."""
    svc = start_service(REDIS_URL=redis_server.url, CACHE_L1_MAX_SIZE="8")
    cached = Recorder()
    upstream = Recorder()
    stop = asyncio.Event()
    async with load_client(svc.root) as client:
        loads = await warm_then_sustain(
            client, KEYS, STOCK_SYMBOLS, stop, cached, upstream, UPSTREAM_PAUSE
        )
        await asyncio.sleep(1.0)
        t_stop = time.monotonic()
        await asyncio.to_thread(redis_server.stop)
        t_down = time.monotonic()
        await asyncio.sleep(scaled(3.0, 20.0))
        ready_during = await _ready(svc)
        t_start = time.monotonic()
        await asyncio.to_thread(redis_server.start)

        async def l2_hit() -> bool:
            return any(o.tier == "l2" for o in cached.between(t_start, time.monotonic()))

        async def ready() -> bool:
            return await _ready(svc) == 200

        _, ready_recovery = await asyncio.gather(
            wait_for(l2_hit, t_start, RECOVERY_LIMIT), wait_for(ready, t_start, RECOVERY_LIMIT)
        )
        await asyncio.sleep(1.0)
        stop.set()
        await loads

    l2_recovery = min(o.started for o in cached.between(t_start, 1e12) if o.tier == "l2") - t_start
    before = cached.between(0, t_stop)
    failed_during = cached.failed(cached.between(t_stop, t_start))
    outage = cached.between(t_down, t_start)
    after = cached.between(t_start, time.monotonic() + 1)
    print(
        f"\n[redis outage] before={len(before)} {dict(cached.tiers(before))} "
        f"outage={len(outage)} {dict(cached.tiers(outage))} after={len(after)} "
        f"{dict(cached.tiers(after))} failed={len(cached.failed())} "
        f"upstream={len(upstream.outcomes)} upstream_failed={len(upstream.failed())} "
        f"outage p99={percentile([o.elapsed for o in outage], 99) * 1000:.1f} ms "
        f"L2 back after {l2_recovery:.2f} s, /readyz 200 after {ready_recovery:.2f} s"
    )
    assert cached.tiers(before)["l2"] > len(before) / 2, "the load really relied on L2"
    assert len(outage) > 20 and cached.tiers(outage)["l2"] == 0, "Redis really was down"
    assert ready_during == 503, "/readyz reports the lost Redis"
    assert failed_during == [], f"figure: 0 failed during the outage; {failed_during[:3]}"
    assert cached.failed() == [], (
        f"figure: 0 failed requests for cached keys; {Recorder.describe(cached.failed())}"
    )
    assert upstream.failed() == [], (
        f"figure: 0 failed upstream requests; {Recorder.describe(upstream.failed())}"
    )
    assert len(upstream.outcomes) >= 8
    over = {p: n for p, n in emulator.over_limit().items() if n}
    assert over == {}, f"figure: calls over limit = 0; got {over}"
    assert l2_recovery < RECOVERY_LIMIT, f"figure: L2 hits resume < {RECOVERY_LIMIT} s"
