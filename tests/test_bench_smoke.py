"""The bench's pure arithmetic (percentiles, ratios, the Zipf ideal) and its HTTP client
against a real local server. The bench itself is not run in CI."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest
from bench.load import closed_loop, get_request, open_loop, parse_head
from bench.report import markdown
from bench.stats import Figure, percentile
from bench.workload import (
    Event,
    Key,
    calls_over_time,
    ideal_calls,
    ideal_loads,
    symbols_in_call,
    zipf_events,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert math.isnan(percentile([], 50))


def test_ratio_direction_and_target() -> None:
    faster = Figure("s", "throughput", 900.0, "req/s", baseline=1000.0, target_op=">=", target=0.9)
    assert faster.ratio == pytest.approx(0.9)
    assert faster.met is True
    slower = Figure("s", "p50", 2.0, "ms", baseline=1.0, inverse=True, target_op=">=", target=0.9)
    assert slower.ratio == pytest.approx(0.5)
    assert slower.met is False
    on_value = Figure(
        "s", "overhead", 0.8, "ms", baseline=5.0, target_on_value=True, target_op="<=", target=1.0
    )
    assert on_value.met is True
    assert Figure("s", "info", 1.0, "x").met is None


def test_markdown_names_missed_targets() -> None:
    figs = [Figure("A", "tput", 1.0, "req/s", baseline=2.0, target_op=">=", target=0.9)]
    info = {
        "date": "d",
        "cpu": "c",
        "cpus": 2,
        "platform": "p",
        "python": "3",
        "packages": {},
        "postgresql": "15",
        "redis": "7",
        "git_commit": "x",
    }
    text = markdown(figs, info, ["a gap"])
    assert "MISSED" in text
    assert "Missed: A — tput" in text
    assert "- a gap" in text


def test_ideal_calls_counts_distinct_keys_per_window_and_provider() -> None:
    universe = [Key("A", "p"), Key("B", "p"), Key("C", "q")]
    events = [Event(0.0, 0), Event(1.0, 1), Event(2.0, 0), Event(3.0, 2), Event(31.0, 0)]
    # window 0: p has {A, B} → ⌈2/2⌉ = 1, q has {C} → 1; window 1: p has {A} → 1
    assert ideal_calls(events, universe, 30.0, {"p": 2, "q": 50}) == 3
    assert ideal_calls(events, universe, 30.0, {"p": 1, "q": 1}) == 4
    # a perfect per-key cache: A at 0 and 31 (≥ 30 s later), B once, C once
    assert ideal_loads(events, 30.0) == 4


def test_zipf_events_are_skewed_and_reproducible() -> None:
    events = zipf_events(40, 0.99, rate=1000, duration=5, seed=7)
    assert events == zipf_events(40, 0.99, rate=1000, duration=5, seed=7)
    assert len(events) == 5000
    counts = Counter(ev.key for ev in events).most_common()
    assert counts[0][1] > 5 * counts[-1][1]  # the head is much hotter than the tail


def test_symbols_in_call_reads_both_vendors() -> None:
    assert symbols_in_call({"symbols": '["BTCUSDT","ETHUSDT"]'}) == 2
    assert symbols_in_call({"symbols": "AAPL,MSFT,IBM", "crumb": "***"}) == 3
    assert symbols_in_call({"symbol": "BTCUSDT"}) == 1
    assert symbols_in_call({}) == 0
    assert calls_over_time([10.0, 10.5, 12.2], 10.0, 1.0) == [2, 0, 1]


def test_parse_head_reads_status_length_and_server_timing() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nserver-timing: l1;dur=0.042\r\n\r\n"
    assert parse_head(head) == (200, 12, "l1", 0.042)
    assert parse_head(b"HTTP/1.1 503 Service Unavailable\r\n\r\n") == (503, 0, None, None)


async def _server(body: bytes, status: bytes = b"200 OK") -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(
                    b"HTTP/1.1 "
                    + status
                    + b"\r\ncontent-length: "
                    + str(len(body)).encode()
                    + b"\r\nserver-timing: l1;dur=0.010\r\n\r\n"
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_client_drivers_count_answers_and_tiers() -> None:
    server = await _server(b'{"ok":true}')
    port = server.sockets[0].getsockname()[1]
    target = ("127.0.0.1", port)
    async with server:
        closed = await closed_loop(
            [target], lambda _: get_request("/"), concurrency=4, duration=0.3, warmup=0.05
        )
        schedule = [(i / 200, get_request("/"), i) for i in range(60)]
        opened = await open_loop([target], schedule)
    assert closed.count > 10
    assert closed.errors == 0
    assert set(closed.tiers) == {"l1"}
    assert opened.count == 60
    assert sorted(r[4] for r in opened.records) == list(range(60))
    assert opened.elapsed >= 59 / 200


async def test_client_counts_error_statuses() -> None:
    server = await _server(b"{}", b"503 Service Unavailable")
    target = ("127.0.0.1", server.sockets[0].getsockname()[1])
    async with server:
        res = await open_loop([target], [(0.0, get_request("/"), 0), (0.01, get_request("/"), 1)])
    assert res.errors == 2
    assert res.statuses[503] == 2
