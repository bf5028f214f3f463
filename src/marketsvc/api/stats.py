"""The statistics views: ``/cache/stats``, ``/stats`` and the ``/metrics`` snapshot.

They read only public methods of the orchestrator, planner, cache and scheduler, so the
Container stays wiring only and no view reaches into another part's internals.
"""

from __future__ import annotations

import time
from typing import Any

from marketsvc.container import Container


async def cache_stats(container: Container) -> dict[str, Any]:
    return await container.cache.stats()


async def planner_stats(container: Container) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, st in (await container.planner.stats()).items():
        out[name] = {
            "queue_depth": dict(st.queue_depth),
            "in_flight": st.in_flight,
            "calls": st.calls,
            "rate_limited": st.rate_limited,
            "retries": st.retries,
            "wait_p50_seconds": round(st.wait_p50, 6),
            "wait_p99_seconds": round(st.wait_p99, 6),
            "mean_batch_size": round(st.mean_batch_size, 3),
            # The configured limit, the part of it kept back for an adapter's lookups (only
            # they may use it), and what ordinary calls may use: used and left count against it.
            "windows": [
                {
                    "window": str(w.limit),
                    "configured": w.limit.limit,
                    "reserved_for_lookups": w.reserved,
                    "usable": w.usable,
                    "used": w.used,
                    "left": w.left,
                }
                for w in st.windows
            ],
        }
    return out


async def service_stats(container: Container) -> dict[str, Any]:
    cache = await cache_stats(container)
    scheduler = container.scheduler
    body: dict[str, Any] = {
        **container.orchestrator.stats(),
        "cache": {k: v for k, v in cache.items() if k != "tiers"},
        "planner": await planner_stats(container),
        "history": container.orchestrator.history_stats(),
        "scheduler": scheduler.stats() if scheduler else {"enabled": False},
        "uptime_seconds": round(time.time() - container.started_at, 1),
    }
    if container.settings.sandbox:
        body["sandbox"] = True
    return body


async def metrics_snapshot(container: Container) -> dict[str, Any]:
    cache = await cache_stats(container)
    tiers = cache.get("tiers", {})
    orch = container.orchestrator
    return {
        "cache_tiers": list(tiers.values()) if isinstance(tiers, dict) else [],
        "planner": await planner_stats(container),
        "provider_errors": orch.provider_errors(),
        "breakers": {name: state.value for name, state in orch.breaker_states().items()},
        "streams": container.streams.stats() if container.streams else None,
        "cache": {k: cache.get(k, 0) for k in ("requests", "cache_hits")},
        "jobs": _job_ticks(container),
    }


def _job_ticks(container: Container) -> dict[str, dict[str, float]]:
    """Each job's last tick: its last run here, or the process start before any (a job that
    never ticks then shows as late, as it should)."""
    if container.scheduler is None:
        return {}
    jobs = container.scheduler.stats()["jobs"]
    return {
        name: {
            "last_tick": j["last_run"] or container.started_at,
            "interval_seconds": j["interval_seconds"],
        }
        for name, j in jobs.items()
    }
