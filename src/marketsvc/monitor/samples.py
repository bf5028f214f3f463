"""A ring buffer of 1-minute samples built from counters the service already keeps.

Nothing on the request path changes: every tick reads the Prometheus request counter and
latency histogram (ServiceMetrics) and the cache's hit/miss counters, and a sample is the
difference between two readings. Latency quantiles come from histogram-bucket deltas with the
same linear interpolation as PromQL's ``histogram_quantile``, so the dashboard and a Grafana
panel built on /metrics agree.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marketsvc.metrics import ServiceMetrics

# Only data routes count: the dashboard's own SSE stream (long-lived by design), /metrics
# scrapes and static assets would otherwise dominate the latency and request numbers.
DATA_PREFIX = "/api/market"


@dataclass(slots=True)
class Reading:
    """Cumulative counters at one instant."""

    requests: float = 0.0
    errors: float = 0.0  # 5xx answers
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    tiers: dict[str, tuple[float, float]] = field(default_factory=dict)  # tier -> hits, misses
    lookups: float = 0.0  # cache lookups (all tiers together)
    cache_hits: float = 0.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One period's activity; ``t`` is its start (unix seconds)."""

    t: float
    seconds: float
    requests: int
    errors: int
    buckets: tuple[tuple[float, float], ...]  # le -> count within the period
    tier_hit_rate: Mapping[str, float | None]
    lookups: int
    cache_hits: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def quantile(self, q: float) -> float | None:
        return histogram_quantile(q, self.buckets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "requests": self.requests,
            "rps": round(self.rps, 4),
            "error_rate": _round(self.error_rate),
            "p50": _round(self.quantile(0.5)),
            "p99": _round(self.quantile(0.99)),
            "hit_rate": {k: _round(v) for k, v in self.tier_hit_rate.items()},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """PromQL's estimate: find the bucket holding rank q·n, interpolate linearly inside it.
    ``buckets`` are (upper bound, cumulative count) pairs; None when nothing was observed."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return lower  # PromQL answers the highest finite bound here
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def merge_buckets(samples: Iterable[Sample]) -> list[tuple[float, float]]:
    merged: dict[float, float] = {}
    for s in samples:
        for le, n in s.buckets:
            merged[le] = merged.get(le, 0.0) + n
    return sorted(merged.items())


def read_requests(metrics: ServiceMetrics, reading: Reading) -> None:
    """Fill the request part of ``reading`` from the registry (data routes only)."""
    for family in metrics.requests.collect():
        for s in family.samples:
            if not s.name.endswith("_total") or not s.labels["route"].startswith(DATA_PREFIX):
                continue
            reading.requests += s.value
            if s.labels["status"].startswith("5"):
                reading.errors += s.value
    for family in metrics.latency.collect():
        for s in family.samples:
            if s.name.endswith("_bucket") and s.labels["route"].startswith(DATA_PREFIX):
                le = float(s.labels["le"])
                reading.buckets[le] = reading.buckets.get(le, 0.0) + s.value


def read_cache(cache_stats: Mapping[str, Any], reading: Reading) -> None:
    tiers = cache_stats.get("tiers", {})
    for name, t in tiers.items() if isinstance(tiers, dict) else ():
        reading.tiers[str(name)] = (float(t.get("hits", 0)), float(t.get("misses", 0)))
    reading.lookups = float(cache_stats.get("requests", 0))
    reading.cache_hits = float(cache_stats.get("cache_hits", 0))


def difference(start: Reading, end: Reading, t: float, seconds: float) -> Sample:
    rates: dict[str, float | None] = {}
    for tier, (hits, misses) in end.tiers.items():
        h0, m0 = start.tiers.get(tier, (0.0, 0.0))
        dh, dm = max(hits - h0, 0.0), max(misses - m0, 0.0)
        rates[tier] = dh / (dh + dm) if dh + dm > 0 else None
    return Sample(
        t=t,
        seconds=seconds,
        requests=int(max(end.requests - start.requests, 0)),
        errors=int(max(end.errors - start.errors, 0)),
        buckets=tuple(
            (le, max(n - start.buckets.get(le, 0.0), 0.0)) for le, n in sorted(end.buckets.items())
        ),
        tier_hit_rate=rates,
        lookups=int(max(end.lookups - start.lookups, 0)),
        cache_hits=int(max(end.cache_hits - start.cache_hits, 0)),
    )


class SampleRing:
    """Closed periods (at most ``size``) plus the period in progress."""

    def __init__(self, period: float = 60.0, size: int = 60) -> None:
        self.period = period
        self.closed: deque[Sample] = deque(maxlen=size)
        self._start_t: float | None = None
        self._start: Reading = Reading()
        self.current: Sample | None = None

    def update(self, reading: Reading, now: float) -> None:
        """Feed the latest reading; closes the period once it is ``period`` seconds old."""
        if self._start_t is None:
            self._start_t, self._start = now, reading
        elapsed = now - self._start_t
        sample = difference(self._start, reading, self._start_t, max(elapsed, 1e-9))
        if elapsed >= self.period:
            self.closed.append(sample)
            self._start_t, self._start = now, reading
            self.current = None
        else:
            self.current = sample

    def samples(self) -> list[Sample]:
        out = list(self.closed)
        if self.current is not None and self.current.seconds > 0:
            out.append(self.current)
        return out

    def last(self, seconds: float, now: float) -> list[Sample]:
        return [s for s in self.samples() if s.t + s.seconds >= now - seconds]
