"""The call planner against the emulator process: provider limits hold in every sliding
window with one process and with three sharing Redis, and a provider's Retry-After stops
every replica until it has passed (measured on the emulator's clock)."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

from marketsvc.config import PROVIDER_NAMES
from tests.e2e.procs import emulator, service, service_env

LIMIT = "30/second"
ONLY_FINNHUB = {f"{p.upper()}_ENABLED": "false" for p in PROVIDER_NAMES if p != "finnhub"}


def _env(emu: str, tmp: Path, **extra: str) -> dict[str, str]:
    return service_env(
        emu,
        f"sqlite+aiosqlite:///{tmp / 'planner.db'}",
        FINNHUB_RATE_LIMITS=LIMIT,
        # 300 calls at 30/second take ~15 s; every caller is to be answered, not timed out.
        REQUEST_TIMEOUT="30",
        **ONLY_FINNHUB,
        **extra,
    )


async def _offer(roots: list[str], count: int) -> list[int]:
    """``count`` distinct symbols at once, spread over the replicas."""
    limits = httpx.Limits(max_connections=400)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        tasks = [
            client.get(
                f"{roots[i % len(roots)]}/api/market/price/S{i:04d}",
                params={"asset_class": "stock"},
            )
            for i in range(count)
        ]
        return [r.status_code for r in await asyncio.gather(*tasks)]


def _check_emulator(emu: str, count: int) -> None:
    stats = httpx.get(f"{emu}/_control/stats").json()["finnhub"]
    assert stats["over_limit"] == 0, f"{stats['over_limit']} calls over {LIMIT}"
    assert stats["calls"] == count, stats


def test_300_requests_hold_the_limit_one_process(tmp_path: Path) -> None:
    with ExitStack() as stack:
        emu = stack.enter_context(emulator(tmp_path))
        httpx.post(f"{emu}/_control/limits", json={"provider": "finnhub", "limits": LIMIT})
        root = stack.enter_context(service(tmp_path, _env(emu, tmp_path)))
        statuses = asyncio.run(_offer([root], 300))
        assert statuses == [404] * 300  # every caller answered (unknown synthetic tickers)
        _check_emulator(emu, 300)


def test_300_requests_hold_the_limit_three_processes_on_redis(
    tmp_path: Path, redis_url: str
) -> None:
    redis_db = redis_url.rsplit("/", 1)[0] + "/12"  # its own database on that server
    redis.Redis.from_url(redis_db).flushdb()
    with ExitStack() as stack:
        emu = stack.enter_context(emulator(tmp_path))
        httpx.post(f"{emu}/_control/limits", json={"provider": "finnhub", "limits": LIMIT})
        env = _env(emu, tmp_path, REDIS_URL=redis_db, REPLICA_COUNT="3")
        roots = [stack.enter_context(service(tmp_path, env, f"r{i}")) for i in range(3)]
        statuses = asyncio.run(_offer(roots, 300))
        assert statuses == [404] * 300
        _check_emulator(emu, 300)


def test_retry_after_stops_every_replica(tmp_path: Path, redis_url: str) -> None:
    redis_db = redis_url.rsplit("/", 1)[0] + "/11"  # its own database on that server
    redis.Redis.from_url(redis_db).flushdb()
    with ExitStack() as stack:
        emu = stack.enter_context(emulator(tmp_path))
        env = _env(emu, tmp_path, REDIS_URL=redis_db)
        roots = [stack.enter_context(service(tmp_path, env, f"r{i}")) for i in range(3)]
        httpx.post(f"{emu}/_control/reset")
        httpx.post(
            f"{emu}/_control/faults",
            json={"provider": "finnhub", "kind": "throttle", "count": 1, "seconds": 7},
        )

        async def scenario() -> list[int]:
            async with httpx.AsyncClient(timeout=60) as client:
                first = asyncio.create_task(client.get(f"{roots[0]}/api/market/price/AAPL"))
                await asyncio.sleep(1.0)
                others = [
                    client.get(f"{roots[i % 3]}/api/market/price/{s}")
                    for i, s in enumerate(("MSFT", "NVDA", "META", "TSLA"))
                ]
                return [r.status_code for r in await asyncio.gather(first, *others)]

        started = time.monotonic()
        statuses = asyncio.run(scenario())
        assert time.monotonic() - started < 30
        calls = httpx.get(f"{emu}/_control/calls", params={"provider": "finnhub"}).json()["calls"]
        throttled = [c for c in calls if c["throttled"]]
        assert len(throttled) == 1, calls
        after = [c["ts"] - throttled[0]["ts"] for c in calls if c["ts"] > throttled[0]["ts"]]
        assert after, "the callers were never served"
        assert min(after) >= 7.0 - 0.05, f"a replica called {min(after):.2f} s after Retry-After: 7"
        assert statuses.count(200) == len(statuses), statuses
