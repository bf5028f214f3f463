"""Prometheus metrics on a registry owned by the Container (never the global default one).

Request counters and latencies are updated as requests pass; everything else (cache tiers,
planner queues, provider calls, breaker states, quota left) is read from the components'
own statistics at scrape time, so the hot path pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from marketsvc.loop_lag import StallMonitor

BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


class _Snapshot(Collector):
    """Yields metric families from the last snapshot taken by :meth:`ServiceMetrics.render`."""

    def __init__(self) -> None:
        self.data: Mapping[str, Any] = {}

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        d = self.data
        if not d:
            return
        tiers = GaugeMetricFamily(
            "marketsvc_cache_entries", "Entries per cache tier", labels=["tier"]
        )
        hits = CounterMetricFamily("marketsvc_cache_hits", "Cache hits per tier", labels=["tier"])
        misses = CounterMetricFamily(
            "marketsvc_cache_misses", "Cache misses per tier", labels=["tier"]
        )
        errors = CounterMetricFamily("marketsvc_cache_errors", "Cache tier errors", labels=["tier"])
        for t in d.get("cache_tiers", []):
            label = str(t.get("tier"))
            if t.get("size") is not None:
                tiers.add_metric([label], float(t["size"]))
            hits.add_metric([label], float(t.get("hits", 0)))
            misses.add_metric([label], float(t.get("misses", 0)))
            errors.add_metric([label], float(t.get("errors", 0)))
        yield from (tiers, hits, misses, errors)

        depth = GaugeMetricFamily(
            "marketsvc_planner_queue_depth", "Calls waiting", labels=["provider", "priority"]
        )
        calls = CounterMetricFamily(
            "marketsvc_provider_calls", "Upstream calls", labels=["provider"]
        )
        limited = CounterMetricFamily(
            "marketsvc_provider_429", "Rate-limited answers received", labels=["provider"]
        )
        quota = GaugeMetricFamily(
            "marketsvc_quota_left",
            "Units left in the sliding window",
            labels=["provider", "window"],
        )
        usable = GaugeMetricFamily(
            "marketsvc_quota_usable",
            "Units ordinary calls may use in the window (quota_left's denominator)",
            labels=["provider", "window"],
        )
        for name, p in d.get("planner", {}).items():
            for prio, n in p["queue_depth"].items():
                depth.add_metric([name, prio], float(n))
            calls.add_metric([name], float(p["calls"]))
            limited.add_metric([name], float(p["rate_limited"]))
            for w in p["windows"]:
                quota.add_metric([name, w["window"]], float(w["left"]))
                usable.add_metric([name, w["window"]], float(w["usable"]))
        yield from (depth, calls, limited, quota, usable)
        yield from _cache_and_jobs(d)

        perr = CounterMetricFamily(
            "marketsvc_provider_errors", "Provider errors by kind", labels=["provider", "kind"]
        )
        for name, kinds in d.get("provider_errors", {}).items():
            for kind, n in kinds.items():
                perr.add_metric([name, kind], float(n))
        yield perr
        breaker = GaugeMetricFamily(
            "marketsvc_breaker_state",
            "Circuit state: 0 closed, 1 half-open, 2 open",
            labels=["provider"],
        )
        for name, state in d.get("breakers", {}).items():
            breaker.add_metric([name], float(BREAKER_VALUE.get(state, 0)))
        yield breaker
        yield from _streams(d.get("streams") or {})


def _streams(s: Mapping[str, Any]) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """Per provider stream: connected, subscribed symbols, messages/s, lag, reconnects; per
    process: client connections, subscriptions, dropped slow consumers."""
    per: dict[str, GaugeMetricFamily] = {
        "connected": GaugeMetricFamily(
            "marketsvc_stream_connected", "1 while the stream is connected", labels=["provider"]
        ),
        "subscribed": GaugeMetricFamily(
            "marketsvc_stream_subscribed_symbols", "Symbols subscribed", labels=["provider"]
        ),
        "messages_per_second": GaugeMetricFamily(
            "marketsvc_stream_messages_per_second", "Messages per second", labels=["provider"]
        ),
        "lag_seconds": GaugeMetricFamily(
            "marketsvc_stream_lag_seconds",
            "Now minus the last tick's own time",
            labels=["provider"],
        ),
    }
    reconnects = CounterMetricFamily(
        "marketsvc_stream_reconnects", "Stream reconnections", labels=["provider"]
    )
    for name, st in (s.get("streams") or {}).items():
        for field, family in per.items():
            value = st.get(field)
            if value is not None:
                family.add_metric([name], float(value))
        reconnects.add_metric([name], float(st.get("reconnects", 0)))
    yield from per.values()
    yield reconnects
    for field, help_text in (
        ("clients", "Stream client connections (WebSocket and SSE)"),
        ("subscriptions", "Client subscriptions"),
        ("dropped_slow_consumers", "Clients dropped for falling behind"),
    ):
        family = GaugeMetricFamily(f"marketsvc_stream_{field}", help_text)
        family.add_metric([], float(s.get(field, 0)))
        yield family


def _cache_and_jobs(d: Mapping[str, Any]) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """Whole-cache lookups and hits (the hit-rate alert), each job's last tick and interval
    (the missed-ticks alert; take ``max by (job)`` across replicas)."""
    lookups = CounterMetricFamily("marketsvc_cache_lookups", "Cache lookups (all tiers together)")
    answered = CounterMetricFamily("marketsvc_cache_answered", "Lookups answered from a tier")
    cache = d.get("cache", {})
    lookups.add_metric([], float(cache.get("requests", 0)))
    answered.add_metric([], float(cache.get("cache_hits", 0)))
    yield from (lookups, answered)
    last = GaugeMetricFamily(
        "marketsvc_job_last_tick_timestamp_seconds",
        "When the job last ran or was skipped because another replica ran it",
        labels=["job"],
    )
    interval = GaugeMetricFamily(
        "marketsvc_job_interval_seconds", "The job's interval", labels=["job"]
    )
    for name, job in d.get("jobs", {}).items():
        last.add_metric([name], float(job["last_tick"]))
        interval.add_metric([name], float(job["interval_seconds"]))
    yield from (last, interval)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "marketsvc_http_requests",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "marketsvc_http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)
        # Loop lag and GC pauses; started by the app's lifespan (it needs the running loop).
        self.stalls = StallMonitor(self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self, snapshot: Mapping[str, Any]) -> bytes:
        self._snapshot.data = snapshot
        return generate_latest(self.registry)
