"""The stall monitor sees a blocked event loop and garbage-collector pauses, as metrics."""

from __future__ import annotations

import asyncio
import gc
import time

from prometheus_client import CollectorRegistry, generate_latest

from marketsvc.loop_lag import StallMonitor


def _count(registry: CollectorRegistry, name: str, le: str, labels: str = "") -> float:
    prefix = f'{name}_bucket{{{labels}le="{le}"}} '
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {prefix!r}")


async def test_a_blocked_loop_shows_as_lag_and_a_collection_as_a_gc_pause() -> None:
    registry = CollectorRegistry()
    monitor = StallMonitor(registry, interval=0.01)
    monitor.start()
    try:
        await asyncio.sleep(0.05)  # a few unblocked samples
        quick = _count(registry, "marketsvc_event_loop_lag_seconds", "0.02")
        time.sleep(0.06)  # noqa: ASYNC251 - the stall under test
        await asyncio.sleep(0.03)
        gc.collect()
    finally:
        await monitor.stop()
    assert quick >= 1
    lagged = _count(registry, "marketsvc_event_loop_lag_seconds", "+Inf") - _count(
        registry, "marketsvc_event_loop_lag_seconds", "0.04"
    )
    assert lagged >= 1 and monitor.max_lag >= 0.04
    assert _count(registry, "marketsvc_gc_pause_seconds", "+Inf", 'generation="2",') >= 1
    assert monitor._on_gc not in gc.callbacks  # stop() unhooks it
