"""Alert rules evaluated in-process, and the book that raises each alert once and resolves it
once. The same conditions ship as Prometheus rules in ``deploy/prometheus/alerts.yml``.

A rule looks at one :class:`Observation` (what the service reports now) and the history the
:class:`AlertEvaluator` keeps (counters over the last 15 minutes), and names the subjects for
which its condition holds. The book turns the set of holding conditions into transitions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marketsvc.monitor.samples import Sample, histogram_quantile, merge_buckets


@dataclass(frozen=True, slots=True)
class Thresholds:
    quota_left_fraction: float = 0.10
    rate_limited_fraction: float = 0.20  # 429s per upstream call over 5 minutes
    rate_limited_min: int = 3
    flaps: int = 3  # breaker openings within 15 minutes
    hit_rate_drop: float = 0.25  # absolute drop of the 5-minute hit rate below the hour's
    hit_rate_min_lookups: int = 20
    p99_seconds: float = 2.0
    p99_min_requests: int = 10
    missed_ticks: float = 2.0  # a job is late after this many intervals (+ 30 s grace)


@dataclass(frozen=True, slots=True)
class Observation:
    now: float
    health: Mapping[str, Mapping[str, Any]]  # /health's providers
    planner: Mapping[str, Mapping[str, Any]]  # /stats' planner
    jobs: Mapping[str, Mapping[str, Any]]  # /stats' scheduler jobs ({} when off)
    samples: list[Sample]


@dataclass(frozen=True, slots=True)
class Condition:
    rule: str
    subject: str
    severity: str
    summary: str

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.subject}"


@dataclass(slots=True)
class Alert:
    rule: str
    subject: str
    severity: str
    summary: str
    raised_at: float
    resolved_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "subject": self.subject,
            "severity": self.severity,
            "summary": self.summary,
            "raised_at": self.raised_at,
            "resolved_at": self.resolved_at,
            "state": "resolved" if self.resolved_at is not None else "firing",
        }


@dataclass(slots=True)
class _Point:
    t: float
    calls: dict[str, int]
    limited: dict[str, int]
    opened: dict[str, int]


@dataclass(slots=True)
class AlertEvaluator:
    thresholds: Thresholds = field(default_factory=Thresholds)
    history: deque[_Point] = field(default_factory=deque)
    job_ticks: dict[str, tuple[int, float]] = field(default_factory=dict)  # ticks, since

    def evaluate(self, obs: Observation) -> list[Condition]:
        self._remember(obs)
        return [
            *self._provider_down(obs),
            *self._quota_low(obs),
            *self._rate_limited(obs),
            *self._breaker_flapping(obs),
            *self._hit_rate_drop(obs),
            *self._p99(obs),
            *self._jobs(obs),
        ]

    def _remember(self, obs: Observation) -> None:
        self.history.append(
            _Point(
                obs.now,
                {n: int(p.get("calls", 0)) for n, p in obs.planner.items()},
                {n: int(p.get("rate_limited", 0)) for n, p in obs.planner.items()},
                {
                    n: int(h.get("circuit", {}).get("times_opened", 0))
                    for n, h in obs.health.items()
                },
            )
        )
        while self.history and self.history[0].t < obs.now - 15 * 60:
            self.history.popleft()

    def _oldest_since(self, seconds: float, now: float) -> _Point:
        for point in self.history:
            if point.t >= now - seconds:
                return point
        return self.history[-1]

    def _provider_down(self, obs: Observation) -> list[Condition]:
        return [
            Condition(
                "provider_down",
                name,
                "critical",
                f"{name} is down (circuit open; last error: {h.get('last_error') or 'unknown'})",
            )
            for name, h in obs.health.items()
            # Half-open after being down is still down: it resolves when the circuit closes.
            if h.get("status") == "down" or h.get("circuit", {}).get("state") == "half_open"
        ]

    def _quota_low(self, obs: Observation) -> list[Condition]:
        out = []
        th = self.thresholds.quota_left_fraction
        for name, p in obs.planner.items():
            for w in p.get("windows", []):
                usable = int(w.get("usable", 0))
                if usable > 0 and int(w.get("left", 0)) < th * usable:
                    out.append(
                        Condition(
                            "quota_low",
                            f"{name}/{w['window']}",
                            "warning",
                            f"{name}: {w['left']} of {usable} left in its {w['window']} window",
                        )
                    )
        return out

    def _rate_limited(self, obs: Observation) -> list[Condition]:
        th = self.thresholds
        then, now = self._oldest_since(5 * 60, obs.now), self.history[-1]
        out = []
        for name in now.calls:
            calls = now.calls[name] - then.calls.get(name, 0)
            limited = now.limited.get(name, 0) - then.limited.get(name, 0)
            if limited >= th.rate_limited_min and limited >= th.rate_limited_fraction * max(
                calls, 1
            ):
                out.append(
                    Condition(
                        "rate_limited",
                        name,
                        "warning",
                        f"{name}: {limited} answers were 429 for {calls} calls in 5 minutes",
                    )
                )
        return out

    def _breaker_flapping(self, obs: Observation) -> list[Condition]:
        then, now = self.history[0], self.history[-1]
        out = []
        for name, opened in now.opened.items():
            flaps = opened - then.opened.get(name, opened)
            if flaps >= self.thresholds.flaps:
                out.append(
                    Condition(
                        "breaker_flapping",
                        name,
                        "warning",
                        f"{name}: circuit opened {flaps} times in 15 minutes",
                    )
                )
        return out

    def _hit_rate_drop(self, obs: Observation) -> list[Condition]:
        th = self.thresholds
        recent = [s for s in obs.samples if s.t + s.seconds >= obs.now - 5 * 60]
        before = [s for s in obs.samples if s.t + s.seconds < obs.now - 5 * 60]
        r_lookups = sum(s.lookups for s in recent)
        b_lookups = sum(s.lookups for s in before)
        if r_lookups < th.hit_rate_min_lookups or b_lookups < th.hit_rate_min_lookups:
            return []
        r_rate = sum(s.cache_hits for s in recent) / r_lookups
        b_rate = sum(s.cache_hits for s in before) / b_lookups
        if b_rate - r_rate < th.hit_rate_drop:
            return []
        summary = f"cache hit rate {r_rate:.0%} over 5 minutes, {b_rate:.0%} before"
        return [Condition("cache_hit_rate_drop", "cache", "warning", summary)]

    def _p99(self, obs: Observation) -> list[Condition]:
        th = self.thresholds
        recent = [s for s in obs.samples if s.t + s.seconds >= obs.now - 5 * 60]
        if sum(s.requests for s in recent) < th.p99_min_requests:
            return []
        p99 = histogram_quantile(0.99, merge_buckets(recent))
        if p99 is None or p99 <= th.p99_seconds:
            return []
        summary = f"p99 latency {p99:.3f} s over 5 minutes (threshold {th.p99_seconds} s)"
        return [Condition("latency_p99_high", "http", "warning", summary)]

    def _jobs(self, obs: Observation) -> list[Condition]:
        out = []
        for name, job in obs.jobs.items():
            # A tick is a run here or a skip because another replica won this tick's lease.
            ticks = int(job.get("runs", 0)) + int(job.get("skipped_other_replica", 0))
            seen, since = self.job_ticks.get(name, (ticks, obs.now))
            if ticks != seen:
                since = obs.now
            self.job_ticks[name] = (ticks, since)
            interval = float(job.get("interval_seconds", 0))
            late = obs.now - since
            if interval > 0 and late > self.thresholds.missed_ticks * interval + 30:
                out.append(
                    Condition(
                        "job_missed_ticks",
                        name,
                        "warning",
                        f"job {name} has not ticked for {late:.0f} s (every {interval:.0f} s)",
                    )
                )
        return out


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str  # "raised" | "resolved"
    alert: Alert


class AlertBook:
    """Active alerts keyed by rule and subject; a condition raises once and resolves once."""

    def __init__(self, keep: int = 200) -> None:
        self.active: dict[str, Alert] = {}
        self.recent: deque[Alert] = deque(maxlen=keep)

    def apply(self, conditions: list[Condition], now: float) -> list[Transition]:
        out: list[Transition] = []
        holding = {c.key: c for c in conditions}
        for key, cond in holding.items():
            if key not in self.active:
                alert = Alert(cond.rule, cond.subject, cond.severity, cond.summary, now)
                self.active[key] = alert
                self.recent.appendleft(alert)
                out.append(Transition("raised", alert))
            else:
                self.active[key].summary = cond.summary  # the latest numbers
        for key in [k for k in self.active if k not in holding]:
            alert = self.active.pop(key)
            alert.resolved_at = now
            out.append(Transition("resolved", alert))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "active": [a.as_dict() for a in self.active.values()],
            "recent": [a.as_dict() for a in self.recent],
        }
