"""The Monitor: one background task that, every ``MONITOR_INTERVAL`` seconds, reads the
service's counters into the sample ring, evaluates the alert rules, logs and posts each
transition, and wakes the dashboard's live streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from marketsvc.container import Container
from marketsvc.monitor.alerts import AlertBook, AlertEvaluator, Observation, Thresholds, Transition
from marketsvc.monitor.samples import Reading, SampleRing, read_cache, read_requests
from marketsvc.monitor.webhook import WebhookNotifier

log = logging.getLogger("marketsvc.alerts")


class Monitor:
    def __init__(
        self,
        container: Container,
        *,
        interval: float,
        sample_seconds: float,
        thresholds: Thresholds,
        notifier: WebhookNotifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.container = container
        self.interval = interval
        self.ring = SampleRing(period=sample_seconds, size=max(1, round(3600 / sample_seconds)))
        self.evaluator = AlertEvaluator(thresholds)
        self.book = AlertBook()
        self.notifier = notifier
        self.clock = clock
        self.version = 0
        self.ticks = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> list[Transition]:
        """One round: sample, evaluate, notify. Public so tests can drive it directly."""
        c = self.container
        now = self.clock()
        reading = Reading()
        read_requests(c.metrics, reading)
        read_cache(await c.cache.stats(), reading)
        self.ring.update(reading, now)
        obs = Observation(
            now=now,
            health=c.orchestrator.health(),
            planner=await self._planner(),
            jobs=c.scheduler.stats()["jobs"] if c.scheduler is not None else {},
            samples=self.ring.samples(),
        )
        transitions = self.book.apply(self.evaluator.evaluate(obs), now)
        for tr in transitions:
            self._announce(tr)
        self.ticks += 1
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()
        return transitions

    async def _planner(self) -> dict[str, Any]:
        return {
            name: {
                "calls": st.calls,
                "rate_limited": st.rate_limited,
                "windows": [
                    {"window": str(w.limit), "usable": w.usable, "left": w.left} for w in st.windows
                ],
            }
            for name, st in (await self.container.planner.stats()).items()
        }

    def _announce(self, tr: Transition) -> None:
        a = tr.alert
        level = logging.WARNING if tr.kind == "raised" else logging.INFO
        log.log(
            level,
            "alert %s",
            tr.kind,
            extra={"rule": a.rule, "subject": a.subject, "summary": a.summary},
        )
        if self.notifier is not None:
            self.notifier.enqueue(
                {
                    "event": tr.kind,
                    "service": "marketsvc",
                    "sandbox": self.container.settings.sandbox,
                    "alert": a.as_dict(),
                }
            )

    async def wait_for_change(self, seen: int, patience: float) -> int:
        """Wait until a tick newer than ``seen`` (at most ``patience`` s); the current version."""
        if self.version == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), patience)
        return self.version

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "at": self.clock(),
            "samples": [s.as_dict() for s in self.ring.samples()],
            "alerts": self.book.snapshot(),
            "webhook": self.notifier.stats() if self.notifier else None,
        }

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                # A failing read (e.g. the database tier away) must not end monitoring.
                log.exception("monitor tick failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="monitor")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@asynccontextmanager
async def open_monitor(container: Container) -> AsyncIterator[Monitor]:
    s = container.settings
    notifier = None
    if s.alert_webhook_url is not None:
        notifier = WebhookNotifier(s.alert_webhook_url.get_secret_value())
        notifier.start()
    monitor = Monitor(
        container,
        interval=s.monitor_interval,
        sample_seconds=s.monitor_sample_seconds,
        thresholds=Thresholds(p99_seconds=s.alert_p99_seconds),
        notifier=notifier,
    )
    monitor.start()
    try:
        yield monitor
    finally:
        await monitor.aclose()
        if notifier is not None:
            await notifier.aclose()
