"""Tight limits end to end: ``<P>_RATE_LIMITS=2/minute`` (or ``4/second``) on every provider,
the same limits enforced by the emulator process, and a 300-request burst at ``marketsvc
serve`` (one process, then three replicas sharing Redis). Figures held: 0 answers 500, 0
dropped connections, 0 calls over any limit (the emulator's count); everything else is an
answer (200/404) or a 503 with Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis

from marketsvc.config import PROVIDER_NAMES
from tests.e2e.procs import emulator, service, service_env

BURST = 300
# Known coins and tickers (cheap to map) and unknown ones (need a lookup or a catalogue).
CRYPTO = ["BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "LTC", "DOT", "AVAX"]
STOCKS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "IBM", "JPM", "V"]


def _paths() -> list[str]:
    paths: list[str] = []
    for i in range(BURST):
        kind = i % 4
        if kind == 0:
            paths.append(f"/api/market/price/{CRYPTO[i // 4 % len(CRYPTO)]}")
        elif kind == 1:
            paths.append(f"/api/market/price/{STOCKS[i // 4 % len(STOCKS)]}")
        elif kind == 2:
            paths.append(f"/api/market/price/Q{i:03d}?asset_class=crypto")
        else:
            paths.append(f"/api/market/price/S{i:03d}?asset_class=stock")
    return paths


async def _burst(roots: list[str]) -> tuple[Counter[str], float]:
    """Every request at once, spread over the replicas: statuses ("dropped" when the
    connection failed) and the longest answer time."""
    limits = httpx.Limits(max_connections=BURST + 10)
    slowest = 0.0

    async def one(client: httpx.AsyncClient, url: str) -> str:
        nonlocal slowest
        t0 = time.monotonic()
        try:
            resp = await client.get(url)
        except httpx.TransportError as exc:
            return f"dropped:{type(exc).__name__}"
        slowest = max(slowest, time.monotonic() - t0)
        if resp.status_code == 503 and not resp.headers.get("retry-after"):
            return "503-without-retry-after"
        return str(resp.status_code)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        tasks = [one(client, roots[i % len(roots)] + p) for i, p in enumerate(_paths())]
        statuses = Counter(await asyncio.gather(*tasks))
    return statuses, slowest


def _run(tmp: Path, limit: str, replicas: int, redis_db: int) -> None:
    with ExitStack() as stack:
        emu = stack.enter_context(emulator(tmp))
        for name in PROVIDER_NAMES:
            resp = httpx.post(f"{emu}/_control/limits", json={"provider": name, "limits": limit})
            resp.raise_for_status()
        extra = {f"{name.upper()}_RATE_LIMITS": limit for name in PROVIDER_NAMES}
        if replicas > 1:
            url = f"redis://127.0.0.1:6379/{redis_db}"
            redis.Redis.from_url(url).flushdb()
            extra |= {"REDIS_URL": url, "REPLICA_COUNT": str(replicas)}
        env = service_env(emu, f"sqlite+aiosqlite:///{tmp / 'tight.db'}", **extra)
        roots = [stack.enter_context(service(tmp, env, f"r{i}")) for i in range(replicas)]
        t0 = time.monotonic()
        statuses, slowest = asyncio.run(_burst(roots))
        took = time.monotonic() - t0
        stats = httpx.get(f"{emu}/_control/stats").json()
        over = {name: s["over_limit"] for name, s in stats.items() if s["over_limit"]}
        calls = {name: s["calls"] for name, s in stats.items() if s["calls"]}
        print(
            f"\n[{limit} x{replicas}] answers={dict(sorted(statuses.items()))} "
            f"burst={took:.1f} s slowest={slowest:.1f} s upstream calls={calls} over_limit={over}"
        )
        assert sum(statuses.values()) == BURST
        bad = {k: v for k, v in statuses.items() if k not in ("200", "404", "503")}
        assert bad == {}, f"figure: 0 × 500, 0 dropped, 503 always with Retry-After; got {bad}"
        assert statuses["200"] > 0, "the providers' budgets were used"
        assert over == {}, f"figure: 0 calls over any limit; got {over}"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("limit", ["2/minute", "4/second"])
def test_tight_limits_one_process(tmp_path: Path, limit: str) -> None:
    _run(tmp_path, limit, replicas=1, redis_db=0)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("limit", ["2/minute", "4/second"])
def test_tight_limits_three_replicas_on_redis(tmp_path: Path, redis_url: str, limit: str) -> None:
    _run(tmp_path, limit, replicas=3, redis_db=13)
