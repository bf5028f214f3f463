"""``python -m bench.run [--quick] [--zipf-seconds S] [--out DIR]`` — the whole benchmark.

Starts the emulator and the service (and the baselines) as separate processes on loopback,
the server under test alone on one core and everything else (client, emulator, Redis,
PostgreSQL) on the other; drives them with the raw-stream client of ``bench/load.py``; writes
``report.md``, ``report.json`` and ``latency.png`` to ``bench/results/``. Every child process
and every PostgreSQL database it creates is removed at the end, also after a failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from bench import report
from bench.procs import REDIS_DB, Cores, PgDatabases, Stack, flush_redis
from bench.stats import Figure
from bench.tiers import Bench, Durations, client_ceiling, run_tiers
from bench.workload import known_universe
from bench.zipf import run_zipf

RESULTS = Path(__file__).parent / "results"


def notes(bench: Bench, cores: Cores) -> list[str]:
    ceiling = bench.raw.get("client_ceiling_rps", 0.0)
    fastest = max(
        (v["throughput_rps"] for v in bench.raw.values() if isinstance(v, dict)
         and "throughput_rps" in v),
        default=0.0,
    )  # fmt: skip
    out = [
        f"Cores: server under test on CPU {cores.server}, client/emulator/Redis/PostgreSQL on "
        f"CPU {cores.other} (taskset)."
        if cores.server
        else "One core: no pinning possible.",
        f"Client ceiling (raw asyncio client vs a fixed-bytes uvloop server): {ceiling:,.0f} "
        f"req/s, {ceiling / fastest:.1f}× the fastest server measured ({fastest:,.0f} req/s)"
        + (
            " — the client is not the bottleneck."
            if ceiling > 1.5 * fastest
            else " — CLOSE TO THE CLIENT'S CEILING: throughput ratios are understated."
        ),
        "Providers enabled: binance (crypto) and yahoo (stocks), both keyless; every other "
        "provider disabled. Scheduler off. One uvicorn worker per service process.",
        f"Bare baseline and service are measured alternately ({bench.d.rounds} rounds per "
        "tier, latencies pooled, median throughput) so background load hits both alike; "
        "latency at 1 connection, throughput at 32 connections (closed loop).",
        "L2 hits are isolated with CACHE_L1_MAX_SIZE=1 and two alternating keys (each request "
        "misses L1, is answered by Redis); L3 the same way without REDIS_URL, where "
        "PostgreSQL is the second tier (Server-Timing still labels it 'l3').",
        "Batch of 100: 100 distinct known symbols per request. The batch route runs one "
        "orchestrator fetch per item (per-item cache reads, not one MGET), which is what these "
        "figures measure.",
        f"Zipf(0.99) over the emulator's {len(known_universe())} priced symbols (the top coins, "
        "the named stocks and the synthetic SYN0000-SYN4999 tail), in real time with the "
        "default TTLs (prices fresh 30 s), for the duration shown (not a full simulated hour "
        "unless run with --zipf-seconds 3600).",
        "Ideal upstream calls follow the brief: Σ over 30 s windows and providers of "
        "⌈distinct keys ÷ max batch⌉ (Binance 100, Yahoo 50). The product batches only the "
        "misses that arrive within the planner's 5 ms gather window, so a gap to that ideal "
        "measures how rarely Zipf misses coincide, not lost coalescing; the second Zipf line "
        "(symbols fetched vs one load per key per 30 s) measures coalescing itself.",
        "Miss-path overhead = service latency with force_refresh=true − the emulator's latency "
        "for the identical upstream request sent directly by the same client (1 connection, "
        "sequential). It includes the planner's 5 ms gather window for batchable quotes.",
        f"Redis database {REDIS_DB} is flushed before each run that uses it; each service "
        "configuration gets a fresh PostgreSQL database, dropped at the end.",
    ]
    return out


async def main_async(args: argparse.Namespace, cores: Cores, workdir: Path) -> Bench:
    d = Durations.of(args.quick, args.zipf_seconds)
    pg = PgDatabases()
    with Stack(workdir, cores) as stack:
        try:
            emulator = stack.emulator()
            bench = Bench(stack, emulator, pg, d)
            phases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                ("client ceiling", lambda: client_ceiling(bench)),
                ("tiers", lambda: run_tiers(bench, workdir)),
                ("zipf, 1 replica", lambda: run_zipf(bench, 1)),
                ("zipf, 3 replicas", lambda: run_zipf(bench, 3)),
            ]
            for name, phase in phases:
                t0 = time.monotonic()
                print(f"[bench] {name} …", flush=True)
                await phase()
                print(f"[bench] {name} done in {time.monotonic() - t0:.0f} s", flush=True)
        finally:
            stack.close()
            pg.close()
            flush_redis()
    return bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short phases (~5 minutes)")
    parser.add_argument("--zipf-seconds", type=float, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cores = Cores.detect()
    cores.pin_self()
    load_before = os.getloadavg()  # the client stays off the server's core
    with tempfile.TemporaryDirectory(prefix="marketsvc-bench-") as tmp:
        bench = uvloop.run(main_async(args, cores, Path(tmp)))
    info = report.machine()
    info["mode"] = "quick" if args.quick else "full"
    # The machine may be shared (other test runs): say how busy it was.
    info["loadavg_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    figures: list[Figure] = bench.figures
    report.write(args.out, figures, bench.raw, bench.latency, notes(bench, cores), info)
    met = sum(f.met is True for f in figures)
    missed = sum(f.met is False for f in figures)
    print(f"[bench] report: {args.out / 'report.md'} — targets met {met}, missed {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
