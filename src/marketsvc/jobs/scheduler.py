"""The job scheduler: APScheduler 3's AsyncIOScheduler with its in-memory job store.

APScheduler 3 cannot share a job store across processes, so with Redis every run first takes a
lease named after the job and the current tick (``floor(now / interval)``) with ``SET NX``:
exactly one replica wins each tick, the others skip it. Without Redis (single-process mode) or
while Redis is unreachable, the job runs locally (a replica never stops refreshing because Redis
is down; duplicates are the lesser harm and the call planner still bounds upstream calls).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

JobFunc = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    interval: float
    func: JobFunc


@dataclass(slots=True)
class JobRecord:
    runs: int = 0
    skipped: int = 0
    failures: int = 0
    last_run: float | None = None
    last_duration: float | None = None
    last_outcome: str | None = None
    last_result: Any = None
    history: list[float] = field(default_factory=list)


class JobScheduler:
    def __init__(
        self,
        specs: list[JobSpec],
        *,
        redis: aioredis.Redis | None = None,
        namespace: str = "marketsvc:v1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.specs = {s.name: s for s in specs}
        self.records = {s.name: JobRecord() for s in specs}
        self._redis = redis
        self._ns = namespace
        self._clock = clock
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.heartbeat: float | None = None
        self._scheduler: AsyncIOScheduler | None = None
        # Runs in progress: APScheduler's shutdown leaves them running, so aclose ends them
        # before the resources they use (planner, cache) are closed under them.
        self._running: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        for spec in self.specs.values():
            scheduler.add_job(
                self.run_once,
                "interval",
                seconds=spec.interval,
                args=[spec.name],
                id=spec.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(spec.interval // 2)),
            )
        scheduler.add_job(self._beat, "interval", seconds=10, id="_heartbeat")
        scheduler.start()
        self._scheduler = scheduler
        await self._beat()

    async def aclose(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        running = list(self._running)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=5.0)

    async def _beat(self) -> None:
        self.heartbeat = self._clock()

    async def _take_lease(self, spec: JobSpec, now: float) -> bool:
        if self._redis is None:
            return True
        tick = int(now // spec.interval)
        key = f"{self._ns}:job:{spec.name}:{tick}"
        try:
            won = await self._redis.set(
                key, self.replica_id, nx=True, px=max(1000, int(spec.interval * 1000))
            )
        except (RedisError, OSError):
            log.warning("job lease unavailable; running locally", extra={"job": spec.name})
            return True
        return bool(won)

    async def run_once(self, name: str) -> bool:
        """Run job ``name`` for the current tick if this replica wins the lease."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        spec = self.specs[name]
        record = self.records[name]
        started = self._clock()
        if not await self._take_lease(spec, started):
            record.skipped += 1
            log.debug("job skipped: another replica runs this tick", extra={"job": name})
            return False
        t0 = time.perf_counter()
        try:
            record.last_result = await spec.func()
            record.last_outcome = "ok"
        except Exception as exc:
            record.failures += 1
            record.last_outcome = f"error: {type(exc).__name__}"
            log.warning("job failed", extra={"job": name, "error": type(exc).__name__})
        record.runs += 1
        record.last_run = started
        record.last_duration = time.perf_counter() - t0
        record.history = [*record.history[-9:], started]
        # Per-run lines stay at DEBUG: at INFO they would drown everything else (failures are
        # logged above at WARNING).
        log.debug(
            "job ran",
            extra={
                "job": name,
                "outcome": record.last_outcome,
                "duration_ms": round(record.last_duration * 1000, 1),
            },
        )
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "enabled": self._scheduler is not None,
            "replica": self.replica_id,
            "heartbeat": self.heartbeat,
            "jobs": {
                name: {
                    "interval_seconds": self.specs[name].interval,
                    "runs": r.runs,
                    "skipped_other_replica": r.skipped,
                    "failures": r.failures,
                    "last_run": r.last_run,
                    "last_duration_seconds": (
                        round(r.last_duration, 4) if r.last_duration is not None else None
                    ),
                    "last_outcome": r.last_outcome,
                    "recent_runs": list(r.history),
                }
                for name, r in self.records.items()
            },
        }
