"""Streams end to end: the emulator and ``marketsvc serve`` as separate processes.

Measured and printed (pytest -s): tick-to-client latency p50/p99 (emulator tick time →
client receipt) over WebSocket and SSE; the gap per symbol after an upstream drop and a stall.
Asserted: snapshot before any tick, REST price of a streamed symbol costs 0 upstream calls,
reconnect + resubscribe after drop and stall, order book from the stream.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.e2e.procs import emulator, service, stream_env

pytestmark = pytest.mark.timeout(120)


def _tick_time(msg: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(msg["timestamp"]).replace("Z", "+00:00")).timestamp()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _ws_ticks(root: str, symbols: list[str], seconds: float) -> list[dict[str, Any]]:
    url = root.replace("http://", "ws://") + "/api/market/ws"
    out: list[dict[str, Any]] = []
    async with connect(url) as ws:
        await ws.send(orjson.dumps({"op": "subscribe", "symbols": symbols}).decode())
        end = time.time() + seconds
        while time.time() < end:
            raw = await asyncio.wait_for(ws.recv(), 10)
            msg = orjson.loads(raw)
            msg["_received"] = time.time()
            out.append(msg)
    return out


async def _sse_ticks(root: str, symbols: str, seconds: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", f"{root}/api/market/stream", params={"symbols": symbols}) as resp,
    ):
        assert resp.status_code == 200
        end = time.time() + seconds
        ident = None
        async for line in resp.aiter_lines():
            if line.startswith("id:"):
                ident = line[3:].strip()
            if line.startswith("data:"):
                msg = orjson.loads(line[5:].strip())
                msg["_received"], msg["_id"] = time.time(), ident
                out.append(msg)
            if time.time() > end:
                break
    return out


def _gap(ticks: list[dict[str, Any]], symbol: str, after: float) -> float:
    times = [t["_received"] for t in ticks if t.get("symbol") == symbol and t["type"] == "tick"]
    later = [t for t in times if t >= after]
    before = [t for t in times if t < after]
    assert later, f"no tick for {symbol} after the fault"
    return later[0] - (before[-1] if before else after)


def test_ws_sse_latency_zero_call_rest_and_reconnects(tmp_path: Path) -> None:
    with ExitStack() as stack:
        emu = stack.enter_context(emulator(tmp_path))
        env = stream_env(
            emu,
            f"sqlite+aiosqlite:///{tmp_path / 'streams.db'}",
            STREAM_SILENCE_SECONDS="2",
            WATCHLIST_CRYPTO="BTC,ETH",
            WATCHLIST_STOCKS="AAPL",
        )
        root = stack.enter_context(service(tmp_path, env))

        ws = asyncio.run(_ws_ticks(root, ["BTC", "ETH", "AAPL", "MSFT"], 4.0))
        first = {}
        for msg in ws:
            first.setdefault(msg.get("symbol"), msg["type"])
        assert {first[s] for s in ("BTC", "ETH", "AAPL", "MSFT")} == {"snapshot"}
        ticks = [m for m in ws if m["type"] == "tick"]
        assert {m["source"] for m in ticks if m["symbol"] == "BTC"} == {"binance"}
        assert {m["source"] for m in ticks if m["symbol"] == "MSFT"} == {"finnhub"}
        metrics = httpx.get(f"{root}/metrics", timeout=10).text
        assert 'marketsvc_stream_connected{provider="binance"} 1.0' in metrics
        assert 'marketsvc_stream_subscribed_symbols{provider="binance"}' in metrics
        assert "marketsvc_stream_lag_seconds{" in metrics
        assert all(m["freshness"] == "realtime" for m in ticks)
        ws_lat = [(m["_received"] - _tick_time(m)) * 1000 for m in ticks]
        sse = asyncio.run(_sse_ticks(root, "BTC,AAPL", 4.0))
        assert sse[0]["type"] == "snapshot" and all(m["_id"] for m in sse)
        sse_lat = [(m["_received"] - _tick_time(m)) * 1000 for m in sse if m["type"] == "tick"]
        print(
            f"\nWS ticks={len(ws_lat)} p50={_pct(ws_lat, 0.5):.1f} ms "
            f"p99={_pct(ws_lat, 0.99):.1f} ms"
            f"; SSE ticks={len(sse_lat)} p50={_pct(sse_lat, 0.5):.1f} ms "
            f"p99={_pct(sse_lat, 0.99):.1f} ms"
        )
        assert len(ws_lat) > 20 and _pct(ws_lat, 0.5) < 500
        assert len(sse_lat) > 10 and _pct(sse_lat, 0.5) < 500

        # REST price of a streamed symbol: a cache hit with the stream's provenance, 0 calls.
        since = httpx.get(f"{emu}/_control/clock").json()["now"]
        for _ in range(20):
            body = httpx.get(f"{root}/api/market/price/BTC").json()
            assert body["source"] == "binance" and body["freshness"] == "realtime", body
        calls = httpx.get(f"{emu}/_control/calls", params={"since": since}).json()["count"]
        assert calls == 0

        # Drop then stall: reconnected, resubscribed, ticks resume; the gap is measured.
        async def fault_run(kind: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
            async def inject() -> float:
                await asyncio.sleep(1.5)
                async with httpx.AsyncClient() as c:
                    await c.post(
                        f"{emu}/_control/streams",
                        json={"provider": "binance", "kind": kind, **extra},
                    )
                return time.time()

            ticks_task = asyncio.create_task(_ws_ticks(root, ["BTC", "ETH"], 9.0))
            at = await inject()
            result = await ticks_task
            result.append({"type": "_fault", "at": at})
            return result

        before = httpx.get(f"{emu}/_control/streams").json()["binance"]["connects"]
        for kind, extra in (("drop", {}), ("stall", {"seconds": 3})):
            got = asyncio.run(fault_run(kind, extra))
            at = got.pop()["at"]
            gaps = {s: _gap(got, s, at) for s in ("BTC", "ETH")}
            print(f"{kind}: gap per symbol " + ", ".join(f"{s}={g:.2f} s" for s, g in gaps.items()))
            assert max(gaps.values()) < 7.0
        emu_stats = httpx.get(f"{emu}/_control/streams").json()["binance"]
        assert emu_stats["connects"] >= before + 2
        assert {"btcusdt@ticker", "ethusdt@ticker"} <= set(emu_stats["subscriptions"])
        health = httpx.get(f"{root}/api/market/health").json()
        streams = health["streams"]["streams"]
        assert streams["binance"]["reconnects"] >= 2 and streams["binance"]["connected"]

        # Order book: first answer may be REST, then the local book from the stream.
        book = httpx.get(f"{root}/api/market/orderbook/BTC", params={"depth": 5}).json()
        assert len(book["bids"]) == 5 and book["spread"] > 0
        deadline = time.time() + 5
        while not book["from_stream"] and time.time() < deadline:
            time.sleep(0.3)
            book = httpx.get(f"{root}/api/market/orderbook/BTC", params={"depth": 5}).json()
        assert book["from_stream"] and book["bids"][0][0] < book["asks"][0][0]
        timings = []
        for _ in range(50):
            t0 = time.perf_counter()
            httpx.get(f"{root}/api/market/orderbook/BTC", params={"depth": 20})
            timings.append((time.perf_counter() - t0) * 1000)
        print(f"/orderbook round trip p50={statistics.median(timings):.2f} ms")
