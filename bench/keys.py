"""``python -m bench.keys [--seconds S] [--rounds R]`` — what client keys cost an L1 hit.

Three ``marketsvc serve`` processes with the same configuration (emulator, Redis, SQLite),
the server under test alone on one core as in ``bench.run``:
- ``open``: ``API_KEYS_REQUIRED=false``, requests carry no key;
- ``keys``: ``API_KEYS_REQUIRED=true``, requests carry a key without limits (cache lookup,
  SHA-256, metering: the check itself);
- the same process with a key that has a limit (1,000,000/second, never reached): the exact
  shared limit adds one Redis round trip (the planner's Lua script) per request.
They are measured alternately, ``rounds`` times (32 connections, closed loop); printed are
each case's median throughput and the median over rounds of its ratio to ``open`` in the same
round. Every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
import uvloop

from bench.load import Target, closed_loop
from bench.procs import REDIS_DB, Cores, Proc, Stack, flush_redis, service_env

PATH = "/api/market/price/BTC"
ADMIN_TOKEN = "bench-admin-token"


def request(key: str | None) -> bytes:
    extra = f"X-API-Key: {key}\r\n" if key else ""
    return f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def issue(proc: Proc, limit: str | None) -> str:
    body = {"name": f"bench {limit or 'unlimited'}", "limit": limit}
    answer = httpx.post(
        f"{proc.url}/api/market/admin/keys",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    answer.raise_for_status()
    key: str = answer.json()["key"]
    return key


async def throughput(target: Target, req: bytes, seconds: float) -> float:
    result = await closed_loop([target], lambda _: req, concurrency=32, duration=seconds)
    assert result.errors == 0, f"{result.errors} errors: {dict(result.statuses)}"
    assert set(result.tiers) == {"l1"}, f"not all L1 hits: {dict(result.tiers)}"
    return result.throughput


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keys", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (5)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations (5)")
    args = parser.parse_args()
    cores = Cores.detect()
    with (
        tempfile.TemporaryDirectory(prefix="marketsvc-bench-keys-") as tmp,
        Stack(Path(tmp), cores) as stack,
    ):
        cores.pin_self()
        emulator = stack.emulator()
        redis_url = flush_redis(REDIS_DB)
        procs = {}
        for name, required in (("open", "false"), ("keys", "true")):
            env = service_env(
                emulator.url,
                f"sqlite+aiosqlite:///{tmp}/{name}.db",
                redis_url,
                API_KEYS_REQUIRED=required,
                ADMIN_TOKEN=ADMIN_TOKEN,
            )
            procs[name] = stack.service(name, env)
        unlimited = issue(procs["keys"], None)
        limited = issue(procs["keys"], "1000000/second")
        cases = {
            "open (no key)": (procs["open"], request(None)),
            "keys required, key without limit": (procs["keys"], request(unlimited)),
            "keys required, key with a shared limit": (procs["keys"], request(limited)),
        }
        for proc, req in cases.values():  # warm each L1 (the first answer is upstream)
            httpx.get(proc.url + PATH, headers=_headers(req), timeout=10).raise_for_status()
        rates: dict[str, list[float]] = {name: [] for name in cases}

        async def run() -> None:
            for _ in range(args.rounds):
                for name, (proc, req) in cases.items():
                    target = ("127.0.0.1", proc.port)
                    rates[name].append(await throughput(target, req, args.seconds))

        uvloop.run(run())
        flush_redis(REDIS_DB)
    open_rates = rates["open (no key)"]
    print(f"L1-hit throughput, {args.rounds} rounds of {args.seconds:g} s, 32 connections:")
    print(f"  {'':42s} {'median':>9s}        {'ratio to open (median of rounds)':s}")
    for name, values in rates.items():
        # Per round, so background load on a shared machine hits both sides of each ratio.
        ratio = statistics.median(v / o for v, o in zip(values, open_rates, strict=True))
        print(f"  {name:42s} {statistics.median(values):9,.0f} req/s  {ratio:5.2f}x")
    return 0


def _headers(req: bytes) -> dict[str, str]:
    for line in req.decode().split("\r\n"):
        if line.startswith("X-API-Key: "):
            return {"X-API-Key": line.split(": ", 1)[1]}
    return {}


if __name__ == "__main__":
    sys.exit(main())
