"""What each dashboard page shows, built from the same views as /stats, /health and
/cache/stats (so the numbers on the page are the numbers in the JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marketsvc.api import stats as stats_views
from marketsvc.container import Container


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def overview(container: Container) -> dict[str, Any]:
    stats = await stats_views.service_stats(container)
    return {
        "requests_last_hour": stats.get("requests_last_hour", 0),
        "cache_hit_rate": stats.get("cache_hit_rate"),
        "answers_by_tier": stats.get("answers_by_tier", {}),
        "uptime_seconds": stats["uptime_seconds"],
    }


async def providers(container: Container) -> list[dict[str, Any]]:
    health = container.orchestrator.health()
    planner = await stats_views.planner_stats(container)
    errors = container.orchestrator.provider_errors()
    rows = []
    for name, h in health.items():
        p = planner.get(name, {})
        windows = [
            {**w, "used_pct": round(100 * w["used"] / w["usable"], 1) if w["usable"] else 0.0}
            for w in p.get("windows", [])
        ]
        rows.append(
            {
                "name": name,
                "status": h["status"],
                "circuit": h["circuit"]["state"],
                "times_opened": h["circuit"].get("times_opened", 0),
                "last_error": h.get("last_error"),
                "latency_ms": h.get("latency_ms"),
                "calls": p.get("calls", 0),
                "errors": sum(errors.get(name, {}).values()),
                "rate_limited": p.get("rate_limited", 0),
                "wait_p99_seconds": p.get("wait_p99_seconds"),
                "windows": windows,
            }
        )
    return rows


async def cache(container: Container) -> dict[str, Any]:
    stats = await stats_views.cache_stats(container)
    service = container.orchestrator.stats()
    tiers = stats.get("tiers", {})
    return {
        "tiers": list(tiers.values()) if isinstance(tiers, dict) else [],
        "hit_rate": stats.get("hit_rate"),
        "top_symbols": service.get("top_symbols", []),
    }


def scheduler(container: Container) -> dict[str, Any]:
    if container.scheduler is None:
        return {"enabled": False, "jobs": []}
    st = container.scheduler.stats()
    jobs = [
        {
            "name": name,
            "interval_seconds": j["interval_seconds"],
            "runs": j["runs"],
            "skipped": j["skipped_other_replica"],
            "failures": j["failures"],
            "last_run": iso(j["last_run"]),
            "last_outcome": j["last_outcome"],
            "last_duration_seconds": j["last_duration_seconds"],
        }
        for name, j in st["jobs"].items()
    ]
    return {"enabled": True, "jobs": jobs, "heartbeat": iso(st.get("heartbeat"))}
