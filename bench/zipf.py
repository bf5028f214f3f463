"""The Zipf(0.99) workload at a fixed rate, on one replica and on three sharing one Redis:
upstream calls (the emulator's own log) against the ideal, hit ratio per tier, limit violations.

Real time, default TTLs (prices fresh 30 s): ``duration`` seconds are that many seconds of
traffic, i.e. ``duration ÷ 30`` freshness windows. Pass ``--zipf-seconds 3600`` for the hour.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson

from bench.load import fetch, get_request, open_loop
from bench.procs import Proc, flush_redis, service_env
from bench.stats import Figure
from bench.tiers import PRICE, Bench
from bench.workload import (
    calls_over_time,
    ideal_calls,
    ideal_loads,
    known_universe,
    symbols_in_call,
    zipf_events,
)

PRICE_FRESH_TTL = 30.0  # cache/policy.py: prices stay fresh min(30 s, CACHE_L2_DEFAULT_TTL)
MAX_BATCH = {"binance": 100, "yahoo": 50}  # the adapters' info.max_batch
QUOTE_PATHS = ("/ticker/24hr", "/ticker/price", "/finance/quote")
ZIPF_S = 0.99


async def _control(bench: Bench, path: str, method: str = "GET") -> Any:
    t = bench.target(bench.emulator)
    if method == "POST":
        from bench.load import post_request

        answer = await fetch(t, post_request(path, b"{}"))
    else:
        answer = await fetch(t, get_request(path))
    return orjson.loads(answer.body)


async def run_zipf(bench: Bench, replicas: int) -> None:
    label = f"zipf_{replicas}"
    db = bench.pg.create(label)
    redis_url = flush_redis()
    procs: list[Proc] = []
    try:
        for i in range(replicas):
            env = service_env(bench.emulator.url, db, redis_url, REPLICA_COUNT=str(replicas))
            procs.append(bench.stack.service(f"service-{label}-{i}", env))
        await _drive(bench, label, procs, replicas)
    finally:
        for proc in procs:
            bench.stack.stop(proc)


async def _drive(bench: Bench, label: str, procs: list[Proc], replicas: int) -> None:
    universe = known_universe()
    events = zipf_events(len(universe), ZIPF_S, bench.d.zipf_rate, bench.d.zipf, seed=99)
    requests = [get_request(PRICE.format(k.symbol)) for k in universe]
    schedule = [(ev.t, requests[ev.key], ev.key) for ev in events]
    await _control(bench, "/_control/reset", "POST")
    started = time.time()
    res = await open_loop([bench.target(p) for p in procs], schedule)
    ended = time.time()
    calls = [c for c in (await _control(bench, "/_control/calls"))["calls"] if c["ts"] >= started]
    stats = await _control(bench, "/_control/stats")

    quote_calls = [c for c in calls if c["path"].endswith(QUOTE_PATHS)]
    fetched = sum(symbols_in_call(c["query"]) for c in quote_calls)
    ideal = ideal_calls(events, universe, PRICE_FRESH_TTL, MAX_BATCH)
    floor = ideal_loads(events, PRICE_FRESH_TTL)
    over_limit = sum(int(s["over_limit"]) for s in stats.values())
    throttled = sum(int(s["throttled"]) for s in stats.values())
    tiers = Counter(r[3] for r in res.records)
    total = sum(tiers.values()) or 1
    per_s = calls_over_time((c["ts"] for c in calls), started, 1.0)
    bench.raw[label] = {
        "replicas": replicas,
        "requests": len(events),
        "rate_rps": bench.d.zipf_rate,
        "seconds": round(ended - started, 1),
        "distinct_keys": len({ev.key for ev in events}),
        "universe": len(universe),
        "upstream_calls": len(calls),
        "upstream_quote_calls": len(quote_calls),
        "upstream_paths": dict(Counter(c["path"] for c in calls)),
        "symbols_fetched": fetched,
        "ideal_calls": ideal,
        "ideal_key_loads": floor,
        "over_limit": over_limit,
        "over_limit_by_provider": {n: int(st["over_limit"]) for n, st in stats.items()},
        "throttled": throttled,
        "tiers": dict(tiers),
        "errors": res.errors,
        "exceptions": dict(res.exceptions),
        "statuses": {str(k): v for k, v in res.statuses.items()},
        "calls_per_second": per_s,
        "latency_p50_ms": sorted(res.latencies)[len(res.latencies) // 2] * 1000,
    }
    section = (
        f"Zipf({ZIPF_S}) over {len(universe)} known symbols, {replicas} replica(s), "
        f"{bench.d.zipf_rate:.0f} req/s for {bench.d.zipf:.0f} s"
    )
    hit = ", ".join(f"{t} {n / total:.1%}" for t, n in sorted(tiers.items()))
    bench.figures += [
        Figure(
            section,
            "upstream calls vs ideal",
            float(len(calls)),
            "calls",
            baseline=float(ideal),
            baseline_name="Σ⌈distinct keys per 30 s ÷ batch size⌉",
            target_op="<=",
            target=1.05,
            note=f"{len(quote_calls)} quote calls carrying {fetched} symbols",
        ),
        Figure(
            section,
            "symbols fetched vs perfect per-key cache",
            float(fetched),
            "symbols",
            baseline=float(floor),
            baseline_name="one load per key per 30 s",
            note="coalescing across requests and replicas",
        ),
        Figure(
            section, "cache hit ratio", 1 - tiers.get("upstream", 0) / total, "fraction", note=hit
        ),
        Figure(
            section,
            "provider-limit violations",
            float(over_limit),
            "calls",
            target_op="<=",
            target=0.0,
            note=f"{throttled} throttled answers",
        ),
        Figure(
            section, "failed requests", float(res.errors), "requests", target_op="<=", target=0.0
        ),
    ]
