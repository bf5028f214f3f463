"""A consecutive-failure circuit breaker, pure arithmetic on a ``now`` the caller passes.

Why consecutive failures only (not the design guide's "≥50 % of ≥20 calls" rule too): a cache
backend is either reachable or not — partial failure rates are a provider's pattern. After
``threshold`` failures in a row the circuit opens for ``base_open`` seconds, doubling with each
consecutive opening up to ``max_open`` (Envoy outlier detection); then one probe call is let
through (half-open): success closes the circuit, failure re-opens it for longer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TierBreaker:
    threshold: int = 5
    base_open: float = 1.0
    max_open: float = 30.0
    # A probe that never reports back (hung socket) stops blocking others after this long.
    probe_timeout: float = 5.0
    failures: int = 0
    opened: int = 0
    open_until: float = 0.0
    probe_started: float | None = None

    def state(self, now: float) -> str:
        if self.failures < self.threshold:
            return "closed"
        return "open" if now < self.open_until else "half_open"

    def allow(self, now: float) -> bool:
        """May a call go to the backend now? (Claims the probe slot when half-open.)"""
        if self.failures < self.threshold:
            return True
        if now < self.open_until:
            return False
        if self.probe_started is not None and now - self.probe_started < self.probe_timeout:
            return False
        self.probe_started = now
        return True

    def record_success(self) -> None:
        self.failures = 0
        self.opened = 0
        self.open_until = 0.0
        self.probe_started = None

    def record_failure(self, now: float) -> None:
        self.probe_started = None
        if now < self.open_until:
            return  # a call that started before the circuit opened: already accounted for
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = now + min(self.max_open, self.base_open * 2.0**self.opened)
            self.opened += 1
