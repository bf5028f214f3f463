"""A small asyncio load driver: every request's outcome is kept, so a test can count failures
in any time window, read which cache tier answered (``Server-Timing``) and compute percentiles.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from tests.reliability._wire import WireClient, WireError

# The short form keeps the suite near three minutes; RELIABILITY_LONG=1 stretches each load.
LONG = os.environ.get("RELIABILITY_LONG", "") not in ("", "0", "false")


def scaled(short: float, long: float) -> float:
    return long if LONG else short


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request: when it started (monotonic), how long it took, what came back.
    ``status`` 0 means no HTTP answer at all (connection refused/reset, client timeout)."""

    url: str
    started: float
    elapsed: float
    status: int
    tier: str | None = None
    retry_after: str | None = None
    source: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(slots=True)
class Recorder:
    outcomes: list[Outcome] = field(default_factory=list)

    def failed(self, outcomes: Iterable[Outcome] | None = None) -> list[Outcome]:
        return [o for o in (self.outcomes if outcomes is None else outcomes) if not o.ok]

    def between(self, t0: float, t1: float) -> list[Outcome]:
        return [o for o in self.outcomes if t0 <= o.started < t1]

    def tiers(self, outcomes: Iterable[Outcome] | None = None) -> Counter[str]:
        return Counter(o.tier or "-" for o in (self.outcomes if outcomes is None else outcomes))

    def statuses(self) -> Counter[int]:
        return Counter(o.status for o in self.outcomes)

    @staticmethod
    def describe(outcomes: Iterable[Outcome]) -> str:
        """A short account of failures for assertion messages."""
        bad = list(outcomes)
        kinds = Counter(f"{o.status} {o.error or ''}".strip() for o in bad)
        return f"{len(bad)} failed: {dict(kinds)}; first: {bad[:3]}"


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    data = sorted(values)
    if not data:
        return float("nan")
    rank = max(1, min(len(data), round(q / 100 * len(data) + 0.5)))
    return data[rank - 1]


def _tier(headers: dict[str, str]) -> str | None:
    timing = headers.get("server-timing")
    return timing.split(";", 1)[0] if timing else None


async def request(client: WireClient, url: str, method: str = "GET", json: Any = None) -> Outcome:
    t0 = time.monotonic()
    try:
        resp = await client.request(method, url, json=json)
    except (WireError, TimeoutError) as exc:
        return Outcome(url, t0, time.monotonic() - t0, 0, error=f"{type(exc).__name__} {exc}")
    elapsed = time.monotonic() - t0
    source = None
    if resp.status == 200 and resp.headers.get("content-type", "") == "application/json":
        body = orjson.loads(resp.body)
        source = body.get("source") if isinstance(body, dict) else None
    return Outcome(
        url,
        t0,
        elapsed,
        resp.status,
        tier=_tier(resp.headers),
        retry_after=resp.headers.get("retry-after"),
        source=source,
        error=None if resp.status == 200 else resp.text[:200],
    )


async def sustain(
    client: WireClient,
    url_for: Callable[[int], str],
    *,
    concurrency: int,
    stop: asyncio.Event,
    recorder: Recorder,
    pause: float = 0.0,
) -> None:
    """``concurrency`` workers, each sending one request after another (request ``n`` goes to
    ``url_for(n)``) until ``stop`` is set."""
    counter = iter(range(10**9))

    async def worker() -> None:
        while not stop.is_set():
            recorder.outcomes.append(await request(client, url_for(next(counter))))
            if pause:
                await asyncio.sleep(pause)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def burst(client: WireClient, urls: Iterable[str]) -> list[Outcome]:
    """All of ``urls`` at once."""
    return list(await asyncio.gather(*(request(client, u) for u in urls)))


def load_client(root: str, timeout: float = 30.0) -> WireClient:
    return WireClient(root, timeout=timeout)


async def wait_for(check: Callable[[], Awaitable[bool]], since: float, limit: float) -> float:
    """Seconds from ``since`` (monotonic) until ``check()`` is true; the test fails past
    ``limit`` seconds."""
    while not await check():
        if time.monotonic() - since > limit:
            pytest.fail(f"not recovered within {limit} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - since


async def warm_then_sustain(
    client: WireClient,
    keys: Sequence[str],
    stocks: Sequence[str],
    stop: asyncio.Event,
    cached: Recorder,
    upstream: Recorder,
    upstream_pause: float,
) -> asyncio.Future[Any]:
    """The outage harnesses' load: warm ``keys`` into the cache, then until ``stop`` keep four
    streams of cached price requests and one of forced refreshes (upstream) going."""
    for key in keys:
        warm = await request(client, f"/api/market/price/{key}")
        assert warm.ok, warm
    return asyncio.gather(
        sustain(
            client,
            lambda n: f"/api/market/price/{keys[n % len(keys)]}",
            concurrency=4,
            stop=stop,
            recorder=cached,
            pause=0.005,
        ),
        sustain(
            client,
            lambda n: f"/api/market/price/{stocks[n % len(stocks)]}?force_refresh=true",
            concurrency=1,
            stop=stop,
            recorder=upstream,
            pause=upstream_pause,
        ),
    )
