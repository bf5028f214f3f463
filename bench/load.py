"""The load generator: an asyncio HTTP/1.1 keep-alive client on raw streams.

Raw streams rather than httpx because the client must not be the bottleneck: httpx spends
~100 µs of Python per request, a raw stream round trip ~20 µs, so one client core outruns one
uvicorn worker (``run.py`` measures the client's own ceiling against a fixed-bytes server).

Two drivers:
- ``closed_loop``: ``concurrency`` connections each send the next request as soon as the last
  answer arrived — measures maximum throughput (and latency under saturation).
- ``open_loop``: requests leave at scheduled times whatever happened before; latency counts
  from the *scheduled* time, so a stalled server cannot hide its queue (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Target = tuple[str, int]  # (host, port)
IDLE_REUSE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    server_tier: str | None  # from Server-Timing "<tier>;dur=<ms>"
    server_ms: float | None
    body: bytes


@dataclass(slots=True)
class LoadResult:
    """What one driver run saw. Latencies in seconds, in completion order."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    server_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0  # transport failures + non-2xx answers
    exceptions: Counter[str] = field(default_factory=Counter)  # transport failures by type
    elapsed: float = 0.0
    # open loop only: (scheduled offset s, latency s, status, tier, tag) per request
    records: list[tuple[float, float, int, str, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def add(self, latency: float, answer: Answer | None) -> None:
        self.latencies.append(latency)
        if answer is None:
            self.errors += 1
            self.statuses[0] += 1
            return
        self.statuses[answer.status] += 1
        if not 200 <= answer.status < 300:
            self.errors += 1
        tier = answer.server_tier or "-"
        self.tiers[tier] += 1
        if answer.server_ms is not None:
            self.server_ms.setdefault(tier, []).append(answer.server_ms)


def get_request(path: str, host: str = "127.0.0.1") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: marketsvc-bench\r\n\r\n".encode()


def post_request(path: str, body: bytes, host: str = "127.0.0.1") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: marketsvc-bench\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def parse_head(head: bytes) -> tuple[int, int, str | None, float | None]:
    """(status, content length, server-timing tier, server-timing ms) of a response head."""
    status = int(head[9:12])
    lower = head.lower()
    length = 0
    i = lower.find(b"\r\ncontent-length:")
    if i >= 0:
        j = lower.index(b"\r\n", i + 2)
        length = int(lower[i + 17 : j])
    tier: str | None = None
    ms: float | None = None
    i = lower.find(b"\r\nserver-timing:")
    if i >= 0:
        j = lower.index(b"\r\n", i + 2)
        value = head[i + 16 : j].decode().strip()
        name, _, params = value.partition(";")
        tier = name.strip()
        if params.strip().startswith("dur="):
            ms = float(params.strip()[4:])
    return status, length, tier, ms


class Connection:
    """One keep-alive connection; ``roundtrip`` sends a request and reads its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, target: Target) -> Connection:
        reader, writer = await asyncio.open_connection(*target, limit=4 * 1024 * 1024)
        return cls(reader, writer)

    async def roundtrip(self, request: bytes) -> Answer:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, length, tier, ms = parse_head(head)
        body = await self.reader.readexactly(length) if length else b""
        return Answer(status, tier, ms, body)

    def close(self) -> None:
        self.writer.close()


async def fetch(target: Target, request: bytes) -> Answer:
    """One request on a fresh connection (for set-up steps, not measurement)."""
    conn = await Connection.open(target)
    try:
        return await conn.roundtrip(request)
    finally:
        conn.close()


async def closed_loop(
    targets: Sequence[Target],
    make_request: Callable[[int], bytes],
    *,
    concurrency: int,
    duration: float,
    warmup: float = 0.5,
) -> LoadResult:
    """``concurrency`` connections (spread over ``targets``) send back to back for
    ``warmup + duration`` seconds; only answers completed after the warm-up count."""
    result = LoadResult()
    clock = time.perf_counter  # uvloop's loop.time() ticks in whole milliseconds
    start = clock()
    measure_from = start + warmup
    stop_at = measure_from + duration
    counter = iter(range(1 << 62))

    async def worker(target: Target) -> None:
        conn = await Connection.open(target)
        try:
            while True:
                t0 = clock()
                if t0 >= stop_at:
                    return
                request = make_request(next(counter))
                try:
                    answer: Answer | None = await conn.roundtrip(request)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    answer = None
                    result.exceptions[type(exc).__name__] += 1
                    conn.close()
                    conn = await Connection.open(target)
                t1 = clock()
                if t0 >= measure_from:
                    result.add(t1 - t0, answer)
        finally:
            conn.close()

    await asyncio.gather(*(worker(targets[i % len(targets)]) for i in range(concurrency)))
    result.elapsed = stop_at - measure_from
    return result


async def sequential(target: Target, request: bytes, n: int, warmup: int = 5) -> LoadResult:
    """``n`` requests one after another on one connection (after ``warmup`` unmeasured)."""
    result = LoadResult()
    conn = await Connection.open(target)
    try:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            answer = await conn.roundtrip(request)
            if i >= warmup:
                result.add(time.perf_counter() - t0, answer)
                result.elapsed += time.perf_counter() - t0
    finally:
        conn.close()
    return result


async def open_loop(
    targets: Sequence[Target],
    schedule: Sequence[tuple[float, bytes, int]],
    *,
    max_connections: int = 256,
    warmup: float = 0.0,
) -> LoadResult:
    """Send ``schedule`` = [(offset seconds, request, tag)] at those offsets from now, request
    i to ``targets[i % len(targets)]``; latency counts from the scheduled time. Requests
    scheduled before ``warmup`` (while connections open) are in ``records`` only."""
    result = LoadResult()
    clock = time.perf_counter
    # (connection, last used): uvicorn closes keep-alive connections idle for 5 s, so older
    # ones are dropped instead of reused, as a real client's pool would.
    pools: list[list[tuple[Connection, float]]] = [[] for _ in targets]
    slots = asyncio.Semaphore(max_connections * len(targets))
    start = clock()

    async def checkout(t: int) -> Connection:
        pool = pools[t]
        while pool:
            conn, used = pool.pop()
            if clock() - used < IDLE_REUSE_SECONDS:
                return conn
            conn.close()
        return await Connection.open(targets[t])

    async def one(i: int, offset: float, request: bytes, tag: int) -> None:
        t = i % len(targets)
        async with slots:
            answer: Answer | None = None
            conn: Connection | None = None
            try:
                conn = await checkout(t)
                answer = await conn.roundtrip(request)
                pools[t].append((conn, clock()))
            except (OSError, asyncio.IncompleteReadError) as exc:
                result.exceptions[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
            latency = clock() - (start + offset)
        if offset >= warmup:
            result.add(latency, answer)
        tier = (answer.server_tier or "-") if answer is not None else "error"
        status = answer.status if answer is not None else 0
        result.records.append((offset, latency, status, tier, tag))

    tasks: list[asyncio.Task[None]] = []
    for i, (offset, request, tag) in enumerate(schedule):
        delay = start + offset - clock()
        if delay > 0.001:
            await asyncio.sleep(delay)  # requests due within the same millisecond go together
        tasks.append(asyncio.create_task(one(i, offset, request, tag)))
    await asyncio.gather(*tasks)
    result.elapsed = clock() - start - warmup
    for pool in pools:
        for conn, _ in pool:
            conn.close()
    return result


def fixed_rate(rate: float, duration: float) -> list[float]:
    """Send offsets for ``rate`` requests per second over ``duration`` seconds."""
    n = int(rate * duration)
    return [i / rate for i in range(n)]


def now() -> float:
    return time.time()
