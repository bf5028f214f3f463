"""Sliding-window limiter arithmetic: pure, with ``now`` passed in.

A provider's guarantee is "never more than N units in ANY window of W seconds". A token bucket of
capacity N refilled at N/W lets a full bucket be spent at the end of one window and a refilled one
at the start of the next: up to 2N in one window. So this keeps a sliding *log* per window instead:
every granted call occupies ``[ts, ts + W)`` in each of the provider's windows, and a call is
granted only when every window still has room for its weight.

Memory is one ``(ts, weight)`` pair per granted call still inside the window (calls granted at the
same instant share one entry), i.e. at most N entries per window.

A window may keep ``reserved`` units back from ordinary calls: only lookups (requests an adapter
makes inside a granted call, e.g. Binance's exchangeInfo) may use them, so a lookup is not
starved by a queue of ordinary calls that take every unit the moment it frees up. Lookups are
charged their real weight like any call; the reserve only decides who may take the last units.
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
    """Units spent in the current sliding window of one limit; ``reserved`` of its units are
    kept for lookups, so ordinary calls may use ``usable`` of them."""

    limit: RateLimit
    used: int
    reserved: int = 0

    @property
    def usable(self) -> int:
        return self.limit.limit - self.reserved

    @property
    def left(self) -> int:
        """Units an ordinary call could still take now."""
        return max(0, self.usable - self.used)


def lookup_reserve(limit: RateLimit, lookup_weight: int) -> int:
    """Units of ``limit`` kept back for lookups of ``lookup_weight``.

    Never more than a quarter of the window: with a small limit, keeping a whole lookup back
    (Binance's 20 out of 30/minute) would leave ordinary calls a third of what the operator
    configured. Nothing is kept when the lookup can never fit (20 > 2/minute): those lookups
    are refused instead, and ordinary calls get the whole window.
    """
    if lookup_weight <= 0 or lookup_weight > limit.limit:
        return 0
    return min(lookup_weight, limit.limit // 4)


class _WindowLog:
    """The granted calls still inside one window, oldest first, with their running total."""

    __slots__ = ("limit", "log", "reserved", "used")

    def __init__(self, limit: RateLimit, reserved: int = 0) -> None:
        if not 0 <= reserved < limit.limit:
            raise ValueError(f"reserve {reserved} must leave room in {limit}")
        self.limit = limit
        self.reserved = reserved
        self.log: deque[tuple[float, int]] = deque()
        self.used = 0

    def expire(self, now: float) -> None:
        # A call at ts counts until now >= ts + window.
        window = self.limit.window
        log = self.log
        while log and log[0][0] + window <= now:
            self.used -= log.popleft()[1]

    def wait_for(self, weight: int, now: float, lookup: bool = False) -> float:
        """Seconds until ``weight`` more units fit (0.0 if they fit now); expire() first.
        Ordinary calls fit under ``limit - reserved``, lookups under the whole limit."""
        ceiling = self.limit.limit if lookup else self.limit.limit - self.reserved
        excess = self.used + weight - ceiling
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

    def __init__(self, limits: Sequence[RateLimit], reserved: Sequence[int] = ()) -> None:
        if not limits:
            raise ValueError("a limiter needs at least one limit; there is no 'unlimited'")
        if reserved and len(reserved) != len(limits):
            raise ValueError("one reserve per limit")
        keep = tuple(reserved) or (0,) * len(limits)
        self._windows = tuple(_WindowLog(lim, r) for lim, r in zip(limits, keep, strict=True))
        self._blocked_until = float("-inf")

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return tuple(w.limit for w in self._windows)

    @property
    def reserved(self) -> tuple[int, ...]:
        return tuple(w.reserved for w in self._windows)

    @property
    def max_weight(self) -> int:
        """The heaviest ordinary call that can ever be granted."""
        return min(w.limit.limit - w.reserved for w in self._windows)

    @property
    def max_lookup_weight(self) -> int:
        """The heaviest lookup that can ever be granted."""
        return min(w.limit.limit for w in self._windows)

    def reserve(self, weight: int, now: float, *, lookup: bool = False) -> float:
        """Grant and record ``weight`` units at ``now`` (returns 0.0), or return the seconds
        until they could be granted and record nothing. ``lookup`` may use the reserve."""
        if weight < 1:
            raise ValueError(f"weight must be at least 1, not {weight}")
        most = self.max_lookup_weight if lookup else self.max_weight
        if weight > most:
            raise ValueError(f"weight {weight} exceeds what one window allows ({most})")
        if self._blocked_until > now:
            return max(MIN_WAIT, self._blocked_until - now + _ROUNDING)
        wait = 0.0
        for window in self._windows:
            window.expire(now)
            wait = max(wait, window.wait_for(weight, now, lookup))
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

    def record_per_window(self, weights: Sequence[int], at: float) -> None:
        """Count ``weights[i]`` units at ``at`` in window ``i`` only: calls whose count is known
        per window but not one by one (another replica's grants, seen as window totals)."""
        for window, weight in zip(self._windows, weights, strict=True):
            if weight > 0:
                window.add(at, weight)

    def block_until(self, until: float) -> None:
        """Grant nothing before ``until`` (a provider's Retry-After); never shortens a block."""
        self._blocked_until = max(self._blocked_until, until)

    def blocked_until(self) -> float:
        return self._blocked_until

    def usage(self, now: float) -> tuple[WindowUsage, ...]:
        for window in self._windows:
            window.expire(now)
        return tuple(WindowUsage(w.limit, w.used, w.reserved) for w in self._windows)
