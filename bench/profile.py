"""``python -m bench.profile [--tier l1|miss] [--seconds S] [--name NAME]`` — a flame graph of
the service under load.

Starts the emulator and one service as the bench does (the service alone on its core, SQLite,
no Redis unless ``--redis``), drives it closed-loop at 32 connections (``l1``: one warm symbol;
``miss``: ``force_refresh=true`` at one connection; ``fixed``: open loop at ``--rate``, then
the loop-lag and GC-pause metrics) and records it with py-spy (``pip install
py-spy``) into ``bench/results/flame-<name>.svg``. Needs ptrace rights over the child (root or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.load import closed_loop, fetch, fixed_rate, get_request, open_loop
from bench.procs import Cores, Stack, flush_redis, service_env
from bench.stats import summary

RESULTS = Path(__file__).parent / "results"
PRICE = "/api/market/price/BTC"


async def drive(target: tuple[str, int], tier: str, seconds: float, rate: float) -> str:
    await fetch(target, get_request(PRICE + "?force_refresh=true"))
    if tier == "fixed":
        request = get_request(PRICE)
        schedule = [(t, request, 0) for t in fixed_rate(rate, seconds)]
        res = await open_loop([target], schedule, warmup=1.0)
        s = summary(res.latencies)
        stalls = (await fetch(target, get_request("/metrics"))).body.decode()
        kept = [
            line
            for line in stalls.splitlines()
            if line.startswith(("marketsvc_event_loop_lag_seconds", "marketsvc_gc_pause"))
            and ("_bucket" not in line or 'le="0.04"' in line or 'le="+Inf"' in line)
        ]
        return f"{rate:,.0f} req/s: p50 {s['p50_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms, " + (
            f"max {s['max_ms']:.1f} ms; errors {res.errors}\n" + "\n".join(kept)
        )
    if tier == "miss":
        loop = asyncio.get_running_loop()
        end, n = loop.time() + seconds, 0
        while loop.time() < end:
            await fetch(target, get_request(PRICE + "?force_refresh=true"))
            n += 1
        return f"{n / seconds:,.0f} req/s at 1 connection"
    res = await closed_loop(
        [target], lambda _: get_request(PRICE), concurrency=32, duration=seconds
    )
    return f"{res.throughput:,.0f} req/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--tier", choices=("l1", "miss", "fixed"), default="l1")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--name", default=None)
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("--rate", type=float, default=3000.0, help="fixed: requests per second")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = RESULTS / f"flame-{args.name or args.tier}.svg"
    cores = Cores.detect()
    with (
        tempfile.TemporaryDirectory(prefix="marketsvc-profile-") as tmp,
        Stack(Path(tmp), cores) as stack,
    ):
        emulator = stack.emulator()
        db = f"sqlite+aiosqlite:///{tmp}/profile.db"
        redis = flush_redis() if args.redis else None
        env = service_env(emulator.url, db, redis, LOG_LEVEL=args.log_level)
        svc = stack.service("service", env)
        target = ("127.0.0.1", svc.port)
        recorder = subprocess.Popen(
            [spy, "record", "-o", str(out), "-p", str(svc.popen.pid), "-d",
             str(int(args.seconds)), "-r", "250", "--nonblocking", "-s"]
        )  # fmt: skip
        done = asyncio.run(drive(target, args.tier, args.seconds, args.rate))
        recorder.wait(args.seconds + 30)
        print(f"[profile] {args.tier}: {done}; flame graph {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
