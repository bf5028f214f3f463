"""The service's own PostgreSQL cluster is stopped mid-load (``pg_ctl stop -m fast``: every
connection is cut) and started again.

The load cycles over 24 cached prices with an 8-entry L1, so answers come from L1/L2 (the
suite's private Redis); a second stream of ``force_refresh`` stock requests goes upstream, and
its write-back to L3 fails while the database is away.

Figures held: failed requests = 0 for cached keys and 0 for upstream-answered ones during the
outage; /readyz 503 during it; seconds from the cluster's restart until /readyz is 200 and
until L3 writes succeed again (measured, < 10 s in the short form); calls over limit = 0.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from marketsvc.symbols import TOP_COINS
from tests._services import PostgresServer, RedisServer
from tests.reliability._load import (
    Recorder,
    load_client,
    percentile,
    request,
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
RECOVERY_LIMIT = scaled(10.0, 35.0)


def _l3(svc: Service) -> dict[str, int]:
    tiers = httpx.get(f"{svc.root}/api/market/cache/stats", timeout=5).json()["tiers"]
    return {k: int(tiers["l3"][k]) for k in ("writes", "errors", "skipped", "hits")}


async def test_postgres_stop_and_restart_mid_load(
    emulator: Emulator,
    start_service: ServiceFactory,
    redis_server: RedisServer,
    pg_server: PostgresServer,
) -> None:
    """Figure: 0 failed requests (cached and upstream) while PostgreSQL is down; /readyz goes
    503 then 200; L3 writes resume < 10 s (short form) after the restart."""
    svc = start_service(REDIS_URL=redis_server.url, CACHE_L1_MAX_SIZE="8")
    cached = Recorder()
    upstream = Recorder()
    stop = asyncio.Event()
    async with load_client(svc.root) as client:
        loads = await warm_then_sustain(
            client, KEYS, STOCK_SYMBOLS, stop, cached, upstream, UPSTREAM_PAUSE
        )
        try:
            await asyncio.sleep(1.0)
            t_stop = time.monotonic()
            await asyncio.to_thread(pg_server.stop)
            t_down = time.monotonic()

            async def not_ready() -> bool:
                return await asyncio.to_thread(svc.ready_status) == 503

            to_503 = await wait_for(not_ready, t_down, 5.0)
            await asyncio.sleep(scaled(3.0, 20.0))
            l3_down = await asyncio.to_thread(_l3, svc)
        finally:
            t_start = time.monotonic()
            await asyncio.to_thread(pg_server.start)

        async def ready() -> bool:
            return await asyncio.to_thread(svc.ready_status) == 200

        async def l3_writes() -> bool:
            return (await asyncio.to_thread(_l3, svc))["writes"] > l3_down["writes"]

        ready_after, writes_after = await asyncio.gather(
            wait_for(ready, t_start, RECOVERY_LIMIT), wait_for(l3_writes, t_start, RECOVERY_LIMIT)
        )
        await asyncio.sleep(0.5)
        stop.set()
        await loads
        # History lives only in the database: it answers again once PostgreSQL is back.
        history = await request(client, "/api/market/historical/AAPL?days=10")
        assert history.ok, history

    during = cached.between(t_stop, t_start)
    up_during = upstream.between(t_stop, t_start)
    print(
        f"\n[postgres outage] cached={len(cached.outcomes)} during={len(during)} "
        f"{dict(cached.tiers(during))} failed={len(cached.failed())} "
        f"upstream={len(upstream.outcomes)} during={len(up_during)} "
        f"failed={len(upstream.failed())} p99 during="
        f"{percentile([o.elapsed for o in during], 99) * 1000:.1f} ms; /readyz 503 after "
        f"{to_503:.2f} s; back to 200 {ready_after:.2f} s and L3 writes {writes_after:.2f} s "
        f"after the restart; L3 while down {l3_down}"
    )
    assert len(during) > 20 and len(up_during) >= 4, "the load ran through the outage"
    assert l3_down["errors"] + l3_down["skipped"] > 0, "L3 really was unreachable"
    assert cached.failed() == [], (
        f"figure: 0 failed requests for cached keys; {Recorder.describe(cached.failed())}"
    )
    assert upstream.failed() == [], (
        f"figure: 0 failed upstream-answered requests; {Recorder.describe(upstream.failed())}"
    )
    assert ready_after < RECOVERY_LIMIT and writes_after < RECOVERY_LIMIT
    over = {p: n for p, n in emulator.over_limit().items() if n}
    assert over == {}, f"figure: calls over limit = 0; got {over}"
