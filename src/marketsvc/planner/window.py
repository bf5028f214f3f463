"""Sliding-window limiter arithmetic: pure, with ``now`` passed in.

A provider's guarantee is "never more than N units in ANY window of W seconds". A token bucket of
capacity N refilled at N/W lets a full bucket be spent at the end of one window and a refilled one
at the start of the next: up to 2N in one window. So this keeps a sliding *log* per window instead:
every granted call occupies ``[ts, ts + W)`` in each of the provider's windows, and a call is
granted only when every window still has room for its weight.

Memory is one ``(ts, weight)`` pair per granted call still inside the window (calls granted at the
same instant share one entry), i.e. at most N entries per window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from marketsvc.domain import RateLimit

# Waits are rounded up to this: a float-rounding residue (1e-15 s) would otherwise make a caller
# sleep for nothing and ask again while its clock cannot move that little.
MIN_WAIT = 1e-3
# Added to every computed wait so that ``now + wait`` is never a rounding error short of the
# instant a call leaves its window (1 ulp of an epoch timestamp is about 2.4e-7 s).
_ROUNDING = 1e-6


@dataclass(frozen=True, slots=True)
class WindowUsage:
    """Units spent in the current sliding window of one limit."""

    limit: RateLimit
    used: int

    @property
    def left(self) -> int:
        return max(0, self.limit.limit - self.used)


class _WindowLog:
    """The granted calls still inside one window, oldest first, with their running total."""

    __slots__ = ("limit", "log", "used")

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.log: deque[tuple[float, int]] = deque()
        self.used = 0

    def expire(self, now: float) -> None:
        # A call at ts counts until now >= ts + window.
        window = self.limit.window
        log = self.log
        while log and log[0][0] + window <= now:
            self.used -= log.popleft()[1]

    def wait_for(self, weight: int, now: float) -> float:
        """Seconds until ``weight`` more units fit (0.0 if they fit now); expire() first."""
        excess = self.used + weight - self.limit.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for ts, w in self.log:
            freed += w
            if freed >= excess:
                return max(MIN_WAIT, ts + self.limit.window - now + _ROUNDING)
        raise AssertionError("weight above the limit must be rejected before")  # pragma: no cover

    def add(self, ts: float, weight: int) -> None:
        log = self.log
        if log and log[-1][0] >= ts:
            # Keep the log sorted even if a wall clock stepped back: counting the call at the
            # later instant keeps it in the window longer, which errs on the safe side.
            last_ts, last_w = log[-1]
            log[-1] = (last_ts, last_w + weight)
        else:
            log.append((ts, weight))
        self.used += weight


class SlidingWindowLimiter:
    """Several sliding windows at once (e.g. 30/second and 60/minute) for one provider."""

    __slots__ = ("_blocked_until", "_windows")

    def __init__(self, limits: Sequence[RateLimit]) -> None:
        if not limits:
            raise ValueError("a limiter needs at least one limit; there is no 'unlimited'")
        self._windows = tuple(_WindowLog(limit) for limit in limits)
        self._blocked_until = float("-inf")

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return tuple(w.limit for w in self._windows)

    @property
    def max_weight(self) -> int:
        """The heaviest call that can ever be granted."""
        return min(w.limit.limit for w in self._windows)

    def reserve(self, weight: int, now: float) -> float:
        """Grant and record ``weight`` units at ``now`` (returns 0.0), or return the seconds
        until they could be granted and record nothing."""
        if weight < 1:
            raise ValueError(f"weight must be at least 1, not {weight}")
        if weight > self.max_weight:
            raise ValueError(f"weight {weight} exceeds the smallest limit ({self.max_weight})")
        if self._blocked_until > now:
            return max(MIN_WAIT, self._blocked_until - now + _ROUNDING)
        wait = 0.0
        for window in self._windows:
            window.expire(now)
            wait = max(wait, window.wait_for(weight, now))
        if wait > 0.0:
            return wait
        for window in self._windows:
            window.add(now, weight)
        return 0.0

    def record(self, weight: int, at: float) -> None:
        """Count a call that was made without asking (history loaded at start, or a call
        granted elsewhere): it occupies its windows even if that overfills them."""
        for window in self._windows:
            window.add(at, weight)

    def record_many(self, calls: Iterable[tuple[float, int]]) -> None:
        for at, weight in sorted(calls):
            self.record(weight, at)

    def block_until(self, until: float) -> None:
        """Grant nothing before ``until`` (a provider's Retry-After); never shortens a block."""
        self._blocked_until = max(self._blocked_until, until)

    def blocked_until(self) -> float:
        return self._blocked_until

    def usage(self, now: float) -> tuple[WindowUsage, ...]:
        for window in self._windows:
            window.expire(now)
        return tuple(WindowUsage(w.limit, w.used) for w in self._windows)
