"""Per-provider circuit breakers (Envoy outlier detection / resilience4j defaults).

A breaker opens after 5 consecutive failures, or when at least 50 % of at least 20 calls in
the last 30 s failed. While open, calls are refused without touching the provider; after the
break time one half-open probe is let through: success closes the breaker, failure re-opens it
for longer (the break doubles with each consecutive open, up to a cap).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    consecutive_failures: int = 5
    failure_ratio: float = 0.5
    min_calls: int = 20
    window: float = 30.0
    base_break: float = 5.0
    max_break: float = 300.0


class ProviderBreaker:
    def __init__(
        self, policy: BreakerPolicy, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self._monotonic = monotonic
        self.state = BreakerState.CLOSED
        self.consecutive = 0
        self.opens_in_a_row = 0
        self.open_until = 0.0
        self.probe_in_flight = False
        self.last_error: str | None = None
        self.opened_total = 0
        self._outcomes: deque[tuple[float, bool]] = deque()

    def allow(self) -> bool:
        """May a call go to the provider now? (A half-open breaker admits one probe.)"""
        now = self._monotonic()
        if self.state is BreakerState.OPEN:
            if now < self.open_until:
                return False
            self.state = BreakerState.HALF_OPEN
            self.probe_in_flight = False
        if self.state is BreakerState.HALF_OPEN:
            if self.probe_in_flight:
                return False
            self.probe_in_flight = True
        return True

    def retry_in(self) -> float:
        return (
            max(0.0, self.open_until - self._monotonic())
            if self.state is BreakerState.OPEN
            else 0.0
        )

    def record_success(self) -> None:
        self._record(ok=True)
        self.consecutive = 0
        if self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.CLOSED
            self.opens_in_a_row = 0
            self.probe_in_flight = False
            self._outcomes.clear()

    def record_failure(self, kind: str) -> None:
        self._record(ok=False)
        self.last_error = kind
        self.consecutive += 1
        if self.state is BreakerState.HALF_OPEN or self._should_open():
            self._open()

    def release_probe(self) -> None:
        """A half-open probe ended with neither verdict (e.g. the symbol was unknown)."""
        self.probe_in_flight = False

    def _record(self, ok: bool) -> None:
        now = self._monotonic()
        self._outcomes.append((now, ok))
        horizon = now - self.policy.window
        while self._outcomes and self._outcomes[0][0] < horizon:
            self._outcomes.popleft()

    def _should_open(self) -> bool:
        if self.state is not BreakerState.CLOSED:
            return False
        if self.consecutive >= self.policy.consecutive_failures:
            return True
        total = len(self._outcomes)
        failed = sum(1 for _, ok in self._outcomes if not ok)
        return total >= self.policy.min_calls and failed / total >= self.policy.failure_ratio

    def _open(self) -> None:
        self.opens_in_a_row += 1
        self.opened_total += 1
        brk = min(self.policy.max_break, self.policy.base_break * 2 ** (self.opens_in_a_row - 1))
        self.state = BreakerState.OPEN
        self.open_until = self._monotonic() + brk
        self.probe_in_flight = False

    def snapshot(self) -> dict[str, object]:
        total = len(self._outcomes)
        failed = sum(1 for _, ok in self._outcomes if not ok)
        return {
            "state": self.state.value,
            "consecutive_failures": self.consecutive,
            "recent_calls": total,
            "recent_failures": failed,
            "retry_in_seconds": round(self.retry_in(), 3),
            "times_opened": self.opened_total,
            "last_error": self.last_error,
        }
