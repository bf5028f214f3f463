from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from marketsvc.jobs import JobScheduler, JobSpec


async def test_three_replicas_on_one_redis_run_each_tick_once(
    redis_client: aioredis.Redis, redis_namespace: str
) -> None:
    calls: list[str] = []
    now = [10_000.0]

    def make(replica: str) -> JobScheduler:
        async def job() -> None:
            calls.append(replica)

        return JobScheduler(
            [JobSpec("refresh", 60, job)],
            redis=redis_client,
            namespace=redis_namespace,
            clock=lambda: now[0],
        )

    replicas = [make(f"r{i}") for i in range(3)]
    for tick in range(4):
        now[0] = 10_000.0 + tick * 60 + 1
        results = await asyncio.gather(*(r.run_once("refresh") for r in replicas))
        assert sum(results) == 1, f"tick {tick}: {results}"
    assert len(calls) == 4
    assert sum(r.records["refresh"].skipped for r in replicas) == 8


async def test_without_redis_every_run_happens_and_failures_are_recorded() -> None:
    outcomes = iter([None, RuntimeError("boom")])

    async def job() -> None:
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value

    sched = JobScheduler([JobSpec("j", 5, job)])
    assert await sched.run_once("j")
    assert await sched.run_once("j")
    rec = sched.stats()["jobs"]["j"]
    assert rec["runs"] == 2 and rec["failures"] == 1
    assert rec["last_outcome"] == "error: RuntimeError"


async def test_unreachable_redis_runs_locally() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    ran: list[int] = []

    async def job() -> None:
        ran.append(1)

    try:
        sched = JobScheduler([JobSpec("j", 5, job)], redis=dead)
        assert await sched.run_once("j")
    finally:
        await dead.aclose()
    assert ran == [1]


async def test_start_schedules_jobs_and_heartbeat() -> None:
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    sched = JobScheduler([JobSpec("fast", 0.05, job)])
    await sched.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=3)
        assert sched.stats()["enabled"] and sched.heartbeat is not None
    finally:
        await sched.aclose()
    assert not sched.stats()["enabled"]
