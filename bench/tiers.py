"""Per-tier scenarios: L1/L2/L3 hits against the bare-FastAPI baseline, the batch endpoint,
the miss path against the emulator's own latency, and fixed-rate load at 70 % of the maximum.

How each tier is isolated in a real process (no product code changed):
- L1: default settings, a key read once before measuring.
- L2: ``CACHE_L1_MAX_SIZE=1`` and requests alternating between two keys, so every request
  misses L1 and is answered by Redis (the promotion into L1 evicts the other key). A fresh
  process with a warm Redis would give only one L2 hit per key before L1 holds it.
- L3: the same trick without ``REDIS_URL``: memory then PostgreSQL, which answers as ``l3``
  in Server-Timing (the SQL tier keeps its name whether or not Redis sits in between).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from bench.load import (
    LoadResult,
    Target,
    closed_loop,
    fetch,
    fixed_rate,
    get_request,
    open_loop,
    post_request,
    sequential,
)
from bench.procs import PgDatabases, Proc, Stack, base_env, flush_redis, service_env
from bench.stats import Figure, summary
from bench.workload import known_universe

PRICE = "/api/market/price/{}"
BATCH = "/api/market/market-data/batch"


@dataclass(frozen=True, slots=True)
class Durations:
    latency: float  # closed loop, 1 connection
    throughput: float  # closed loop, ``concurrency`` connections
    fixed: float
    miss_requests: int
    zipf: float
    zipf_rate: float
    rounds: int  # bare/service alternations per tier
    concurrency: int = 32

    @classmethod
    def of(cls, quick: bool, zipf_seconds: float | None) -> Durations:
        if quick:
            return cls(2, 3, 8, 150, zipf_seconds or 60, 150, rounds=2)
        return cls(5, 8, 30, 500, zipf_seconds or 600, 250, rounds=4)


@dataclass
class Bench:
    """What the scenarios share: the processes, the durations, and what they found."""

    stack: Stack
    emulator: Proc
    pg: PgDatabases
    d: Durations
    figures: list[Figure] = field(default_factory=list)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)  # tier -> summary
    raw: dict[str, Any] = field(default_factory=dict)

    def target(self, proc: Proc) -> Target:
        return ("127.0.0.1", proc.port)


def _rotating(paths: list[str]) -> Any:
    requests = [get_request(p) for p in paths]
    return lambda i: requests[i % len(requests)]


async def _measure(bench: Bench, proc: Proc, paths: list[str]) -> tuple[LoadResult, LoadResult]:
    """(1 connection: unloaded latency, N connections: maximum throughput)."""
    target = [bench.target(proc)]
    lat = await closed_loop(target, _rotating(paths), concurrency=1, duration=bench.d.latency)
    tput = await closed_loop(
        target, _rotating(paths), concurrency=bench.d.concurrency, duration=bench.d.throughput
    )
    return lat, tput


def _merge(results: list[LoadResult]) -> LoadResult:
    """Pool latencies of several rounds; throughput = the median round's."""
    out = LoadResult()
    for r in results:
        out.latencies += r.latencies
        out.statuses += r.statuses
        out.tiers += r.tiers
        out.errors += r.errors
        for tier, ms in r.server_ms.items():
            out.server_ms.setdefault(tier, []).extend(ms)
    rates = sorted(r.throughput for r in results)
    median = rates[len(rates) // 2]
    out.elapsed = len(out.latencies) / median if median else 0.0
    return out


async def _paired(
    bench: Bench, bare: Proc, svc: Proc, paths: list[str], label: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alternate bare and service measurements for ``rounds`` rounds, so background load on
    the machine hits both alike; returns (service figures, bare figures)."""
    mine: list[tuple[LoadResult, LoadResult]] = []
    base: list[tuple[LoadResult, LoadResult]] = []
    for _ in range(bench.d.rounds):
        base.append(await _measure(bench, bare, [PRICE.format("BTC")]))
        mine.append(await _measure(bench, svc, paths))
    b = _record(bench, f"bare_for_{label}", _merge([x[0] for x in base]),
                _merge([x[1] for x in base]))  # fmt: skip
    m = _record(bench, label, _merge([x[0] for x in mine]), _merge([x[1] for x in mine]))
    if label == "l1":
        bench.latency["bare"] = b["latency_1conn"]
    return m, b


def _record(bench: Bench, label: str, lat: LoadResult, tput: LoadResult) -> dict[str, Any]:
    s = summary(lat.latencies)
    bench.latency[label] = s
    out = {
        "latency_1conn": s,
        "throughput_rps": tput.throughput,
        "latency_saturated": summary(tput.latencies),
        "errors": lat.errors + tput.errors,
        "server_tiers": dict(lat.tiers + tput.tiers),
        "server_ms": {t: summary([v / 1000 for v in ms]) for t, ms in lat.server_ms.items()},
    }
    bench.raw[label] = out
    return out


def _versus(
    bench: Bench, section: str, mine: dict[str, Any], bare: dict[str, Any], target: float | None
) -> None:
    op = ">=" if target is not None else ""
    rows = [
        ("throughput", "throughput_rps", None, False),
        ("p50 latency (1 conn)", "latency_1conn", "p50_ms", True),
        ("p99 latency (1 conn)", "latency_1conn", "p99_ms", True),
    ]
    for name, key, sub, inverse in rows:
        value, base = mine[key], bare[key]
        if sub is not None:
            value, base = value[sub], base[sub]
        bench.figures.append(
            Figure(
                section,
                name,
                float(value),
                "ms" if sub else "req/s",
                baseline=float(base),
                baseline_name="bare FastAPI",
                inverse=inverse,
                target_op=op,
                target=target,
            )
        )


def _service(bench: Bench, name: str, db_url: str, redis_url: str | None, **extra: str) -> Proc:
    env = service_env(bench.emulator.url, db_url, redis_url, **extra)
    return bench.stack.service(name, env)


async def _warm(target: Target, symbols: list[str]) -> None:
    for sym in symbols:
        answer = await fetch(target, get_request(PRICE.format(sym) + "?force_refresh=true"))
        if answer.status != 200:
            raise RuntimeError(f"warming {sym}: HTTP {answer.status} {answer.body[:200]!r}")


def batch_body(n: int = 100) -> bytes:
    """``n`` price requests over the first ``n`` symbols of the known universe."""
    symbols = itertools.islice(itertools.cycle(k.symbol for k in known_universe()), n)
    return orjson.dumps({"requests": [{"data_type": "price", "symbol": s} for s in symbols]})


async def _batch(bench: Bench, proc: Proc, label: str) -> dict[str, Any]:
    request = post_request(BATCH, batch_body())
    target = [bench.target(proc)]
    first = await fetch(target[0], request)  # warm every symbol
    failed = sum(not item["ok"] for item in orjson.loads(first.body)["results"])
    res = await closed_loop(target, lambda _: request, concurrency=4, duration=bench.d.throughput)
    out = {
        "batches_per_s": res.throughput,
        "symbols_per_s": res.throughput * 100,
        "latency": summary(res.latencies),
        "errors": res.errors,
        "failed_items_on_warm": failed,
    }
    bench.raw[f"batch100_{label}"] = out
    return out


async def client_ceiling(bench: Bench) -> float:
    proc = bench.stack.helper_app("raw-server", "bench.raw_server", base_env())
    try:
        res = await closed_loop(
            [bench.target(proc)], lambda _: get_request("/x"), concurrency=32, duration=3
        )
    finally:
        bench.stack.stop(proc)
    bench.raw["client_ceiling_rps"] = res.throughput
    return res.throughput


async def run_tiers(bench: Bench, workdir: Path) -> None:
    db = bench.pg.create("tiers")
    redis_url = flush_redis()
    # What the batch-of-100 phase asks for (warming all 5,000+ would take minutes).
    universe = [k.symbol for k in known_universe()][:100]

    # -- L1, and the baseline (both processes up, measured alternately) --------------------
    svc = _service(bench, "service-l1", db, redis_url)
    t = bench.target(svc)
    await _warm(t, ["BTC", "ETH"])
    body_file = workdir / "l1_body.json"
    body_file.write_bytes((await fetch(t, get_request(PRICE.format("BTC")))).body)
    bare_proc = bench.stack.helper_app(
        "bare-fastapi", "bench.bare_app", {**base_env(), "BENCH_BODY_FILE": str(body_file)}
    )
    await miss_path(bench, svc)
    l1, bare = await _paired(bench, bare_proc, svc, [PRICE.format("BTC")], "l1")
    b1 = await _batch(bench, svc, "l1")
    await fixed_rate_load(bench, svc, l1["throughput_rps"], l1["latency_1conn"]["p50_ms"])
    bench.stack.stop(svc)
    _versus(bench, "L1 hit vs bare FastAPI", l1, bare, 0.9)
    server_l1 = bench.raw["l1"]["server_ms"].get("l1", {})
    bench.figures.append(
        Figure(
            "Server-Timing",
            "l1 p99 (server side)",
            server_l1.get("p99_ms", float("nan")),
            "ms",
            target_op="<=",
            target=0.05,
            note=f"p50 {server_l1.get('p50_ms', float('nan')):.3f} ms",
        )
    )

    # -- L2 (Redis) -------------------------------------------------------------------------
    svc = _service(bench, "service-l2", db, redis_url, CACHE_L1_MAX_SIZE="1")
    await _warm(bench.target(svc), universe)
    two = [PRICE.format(s) for s in ("BTC", "ETH")]
    l2, bare = await _paired(bench, bare_proc, svc, two, "l2")
    b2 = await _batch(bench, svc, "l2")
    bench.stack.stop(svc)
    _versus(bench, "L2 (Redis) hit vs bare FastAPI", l2, bare, 0.4)

    # -- L3 (PostgreSQL) --------------------------------------------------------------------
    svc = _service(bench, "service-l3", db, None, CACHE_L1_MAX_SIZE="1")
    await _warm(bench.target(svc), ["BTC", "ETH"])
    l3, bare = await _paired(bench, bare_proc, svc, two, "l3")
    bench.stack.stop(svc)
    bench.stack.stop(bare_proc)
    _versus(bench, "L3 (PostgreSQL) hit vs bare FastAPI", l3, bare, None)

    for tier in ("l2", "l3"):
        ms = bench.raw[tier]["server_ms"]
        label = tier
        s = ms.get(label, {})
        bench.figures.append(
            Figure(
                "Server-Timing",
                f"{tier} p99 (server side)",
                s.get("p99_ms", float("nan")),
                "ms",
                note=f"p50 {s.get('p50_ms', float('nan')):.3f} ms; label '{label}'",
            )
        )
    for label, b, single in (("L1", b1, l1), ("L2", b2, l2)):
        bench.figures.append(
            Figure(
                "Batch of 100 (POST /market-data/batch)",
                f"symbols/s, items from {label}",
                b["symbols_per_s"],
                "symbols/s",
                baseline=single["throughput_rps"],
                baseline_name=f"single GET {label} req/s",
                note=f"p50 {b['latency']['p50_ms']:.1f} ms per batch; 100 distinct symbols; "
                "4 connections",
            )
        )


async def miss_path(bench: Bench, svc: Proc) -> None:
    """force_refresh=true at one connection vs the same upstream request sent directly."""
    n = bench.d.miss_requests
    svc_t, emu_t = bench.target(svc), bench.target(bench.emulator)
    calls = orjson.loads((await fetch(emu_t, get_request("/_control/calls?provider=binance"))).body)
    last = [c for c in calls["calls"] if c["path"].endswith("/ticker/24hr")][-1]
    upstream = get_request(f"{last['path']}?{urlencode(last['query'])}")
    forced = get_request(PRICE.format("BTC") + "?force_refresh=true")
    direct = await sequential(emu_t, upstream, n)
    res = await sequential(svc_t, forced, n)
    emu_s, svc_s = summary(direct.latencies), summary(res.latencies)
    bench.latency["miss"] = svc_s
    bench.latency["emulator"] = emu_s
    upstream_ms = summary([v / 1000 for v in res.server_ms.get("upstream", [])])
    bench.raw["miss"] = {
        "server_timing_upstream": upstream_ms,
        "service": svc_s,
        "emulator_direct": emu_s,
        "errors": res.errors,
        "tiers": dict(res.tiers),
    }
    for q in ("p50", "p99"):
        over = svc_s[f"{q}_ms"] - emu_s[f"{q}_ms"]
        bench.figures.append(
            Figure(
                "Miss path (force_refresh=true)",
                f"overhead {q}",
                over,
                "ms",
                baseline=emu_s[f"{q}_ms"],
                baseline_name="emulator direct",
                target_on_value=True,
                target_op="<=" if q == "p50" else "",
                target=1.0 if q == "p50" else None,
                note=f"service {svc_s[f'{q}_ms']:.2f} ms − emulator {emu_s[f'{q}_ms']:.2f} ms; "
                f"Server-Timing upstream {upstream_ms[f'{q}_ms']:.2f} ms",
            )
        )


async def fixed_rate_load(bench: Bench, svc: Proc, max_rps: float, unloaded_p50: float) -> None:
    rate = 0.7 * max_rps
    request = get_request(PRICE.format("BTC"))
    schedule = [(t, request, 0) for t in fixed_rate(rate, bench.d.fixed)]
    res = await open_loop([bench.target(svc)], schedule, warmup=1.0)
    s = summary(res.latencies)
    slowest = sorted(res.records, key=lambda r: -r[1])[:20]
    bench.raw["fixed_rate_70pct"] = {
        "rate_rps": rate,
        "latency": s,
        "errors": res.errors,
        "exceptions": dict(res.exceptions),
        "achieved_rps": res.throughput,
        "slowest_at_offsets_s": [round(r[0], 3) for r in slowest],
    }
    section = f"Fixed rate 70 % of max ({rate:,.0f} req/s, L1 hits)"
    bench.figures += [
        Figure(
            section,
            "p99 ÷ p50",
            s["p99_ms"],
            "ms",
            baseline=s["p50_ms"],
            baseline_name="p50 of the same run",
            target_op="<=",
            target=3.0,
            note="latency from the scheduled send time (no coordinated omission)",
        ),
        # p99 ≤ 3× p50 is vacuous if the queue grew without bound (everything slow alike).
        Figure(
            section,
            "p50 vs unloaded p50",
            s["p50_ms"],
            "ms",
            baseline=unloaded_p50,
            baseline_name="L1 p50 at 1 connection",
            target_op="<=",
            target=3.0,
            note=f"achieved {res.throughput:,.0f} req/s",
        ),
        Figure(section, "errors", float(res.errors), "requests", target_op="<=", target=0.0),
    ]
