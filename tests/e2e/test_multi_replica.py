"""Three ``marketsvc serve`` processes on one Redis behave as one service: each scheduled job
runs once per tick (counted in the emulator's call log), and a cache clear on one replica
reaches the others' L1."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

from tests.e2e.procs import emulator, service, service_env


def test_three_replicas_run_each_job_once_per_tick(tmp_path: Path, redis_url: str) -> None:
    redis_db = redis_url.rsplit("/", 1)[0] + "/13"  # its own database on that server
    redis.Redis.from_url(redis_db).flushdb()
    interval = 2.0
    with ExitStack() as stack:
        emu = stack.enter_context(emulator(tmp_path))
        env = service_env(
            emu,
            f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
            REDIS_URL=redis_db,
            SCHEDULER_ENABLED="true",
            WATCHLIST_CRYPTO="BTC",
            JOB_CRYPTO_PRICES_INTERVAL=str(interval),
            CALL_PLANNER_BATCH_DELAY="0.1",
            ADMIN_TOKEN="e2e-admin",
        )
        roots = [stack.enter_context(service(tmp_path, env, f"r{i}")) for i in range(3)]
        httpx.post(f"{emu}/_control/reset")
        started = time.time()
        time.sleep(4 * interval + 0.5)
        elapsed = time.time() - started
        calls = httpx.get(f"{emu}/_control/calls", params={"provider": "binance"}).json()["calls"]
        ticker_calls = [c for c in calls if c["path"].endswith("/ticker/24hr")]
        jobs = [
            httpx.get(f"{r}/api/market/stats").json()["scheduler"]["jobs"]["crypto_prices"]
            for r in roots
        ]
        runs = sum(j["runs"] for j in jobs)
        skipped = sum(j["skipped_other_replica"] for j in jobs)
        run_ticks = [int(ts // interval) for j in jobs for ts in j["recent_runs"]]
        assert len(run_ticks) == len(set(run_ticks)), f"a tick ran twice: {sorted(run_ticks)}"
        assert runs >= 3 and skipped >= 3, (runs, skipped)  # the others saw the lease
        # Each run refreshes BTC with one upstream call (emulator's log, reset at `started`;
        # a run that began just before the reset may land its call just after it).
        runs_after = sum(1 for j in jobs for ts in j["recent_runs"] if ts >= started)
        assert runs_after <= len(ticker_calls) <= runs_after + 1, (len(ticker_calls), runs_after)
        assert runs_after <= elapsed / interval + 1, f"{runs_after} runs in {elapsed:.1f} s"

        # A cache clear on replica 0 reaches replica 1's L1 within 1 s.
        assert httpx.get(f"{roots[1]}/api/market/price/ETH").status_code == 200
        hit = httpx.get(f"{roots[1]}/api/market/price/ETH")
        assert hit.headers["server-timing"].startswith("l1")
        cleared = httpx.post(
            f"{roots[0]}/api/market/cache/clear",
            json={"symbol": "ETH"},
            headers={"Authorization": "Bearer e2e-admin"},
        )
        assert cleared.status_code == 200, cleared.text
        time.sleep(1.0)
        after = httpx.get(f"{roots[1]}/api/market/price/ETH")
        assert not after.headers["server-timing"].startswith("l1"), after.headers["server-timing"]
