"""Event-loop stalls, measured where they happen: the loop's own lag and the collector's pauses.

A request that waits 50 ms behind a blocked loop looks like a slow request everywhere else;
these two series say whether the loop itself stalled and whether a garbage collection did it:

- ``marketsvc_event_loop_lag_seconds`` (histogram): how late a ``sleep(interval)`` woke up, a
  sample every ``interval`` (0.1 s: ten timer callbacks a second, unmeasurable on the hot path);
- ``marketsvc_gc_pause_seconds{generation}`` (histogram): every collection's duration, from
  ``gc.callbacks`` (each pause is a loop stall too).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 1.0)
GC_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1)


class StallMonitor:
    def __init__(self, registry: CollectorRegistry, interval: float = 0.1) -> None:
        self.interval = interval
        self.lag = Histogram(
            "marketsvc_event_loop_lag_seconds",
            "How late a timer on the event loop fired (loop stalls)",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.gc_pause = Histogram(
            "marketsvc_gc_pause_seconds",
            "Garbage collector pauses",
            ["generation"],
            buckets=GC_BUCKETS,
            registry=registry,
        )
        self._gc_children = [self.gc_pause.labels(str(g)) for g in range(3)]
        self.max_lag = 0.0
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self._gc_children[min(int(info.get("generation", 0)), 2)].observe(
                time.perf_counter() - self._gc_started
            )
            self._gc_started = 0.0

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - expected)
            self.lag.observe(lag)
            if lag > self.max_lag:
                self.max_lag = lag

    def start(self) -> None:
        if self._task is None:
            gc.callbacks.append(self._on_gc)
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
