"""The limiter contract the planner relies on, and its in-process implementation.

Documented once here; :class:`LocalLimiter` (one process, optional database log) and
:class:`~marketsvc.planner.redis_limiter.RedisLimiter` (shared by every replica) follow it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from marketsvc.domain import RateLimit
from marketsvc.errors import CallLogError, CallTooHeavyError, ConfigError
from marketsvc.planner.window import SlidingWindowLimiter, WindowUsage

log = logging.getLogger(__name__)

# How many granted calls between two deletions of rows that left every window.
_PRUNE_EVERY = 256


class Limiter(Protocol):
    """Decides, per provider, whether a call of some weight may go upstream now.

    ``reserve`` grants and records atomically (returns 0.0) or records nothing and returns the
    seconds to wait before asking again; ``lookup=True`` may use the units ``configure`` kept
    back per window (``reserved``), ordinary calls may not. A weight above what one window can
    ever grant raises ``CallTooHeavyError``. ``block_for`` makes ``reserve`` refuse for ``seconds``
    (a provider's Retry-After); it takes a duration rather than an instant so a shared limiter
    can place the end on its own clock and clock skew between replicas does not matter.
    ``reserve`` raises ``ConfigError`` for a provider that was never configured: a provider
    without limits is refused, never treated as unlimited.
    """

    async def configure(
        self, provider: str, limits: Sequence[RateLimit], reserved: Sequence[int] = ()
    ) -> None: ...

    async def reserve(self, provider: str, weight: int = 1, *, lookup: bool = False) -> float: ...

    async def block_for(self, provider: str, seconds: float) -> None: ...

    async def usage(self, provider: str) -> tuple[WindowUsage, ...]: ...


class CallLog(Protocol):
    """Durable record of granted calls (epoch seconds), so long windows survive a restart."""

    async def load(self, provider: str, since: float) -> list[tuple[float, int]]: ...

    async def append(self, provider: str, ts: float, weight: int) -> None: ...

    async def prune(self, provider: str, before: float) -> None: ...


class LocalLimiter:
    """Sliding windows in this process, optionally backed by a :class:`CallLog`.

    ``clock`` is wall-clock epoch seconds by default because logged calls must still mean
    something after a restart; a monotonic clock would restart at an arbitrary origin.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        call_log: CallLog | None = None,
    ) -> None:
        self._clock = clock
        self._call_log = call_log
        self._limiters: dict[str, SlidingWindowLimiter] = {}
        self._since_prune: dict[str, int] = {}

    def now(self) -> float:
        """This limiter's clock (the time base of ``record`` and ``seed``)."""
        return self._clock()

    def limiter(self, provider: str) -> SlidingWindowLimiter:
        try:
            return self._limiters[provider]
        except KeyError:
            raise ConfigError(f"no rate limits configured for provider {provider!r}") from None

    async def configure(
        self, provider: str, limits: Sequence[RateLimit], reserved: Sequence[int] = ()
    ) -> None:
        limiter = SlidingWindowLimiter(limits, reserved)
        if self._call_log is not None:
            since = self._clock() - max(limit.window for limit in limits)
            try:
                await self._call_log.prune(provider, since)
                limiter.record_many(await self._call_log.load(provider, since))
            except CallLogError as exc:
                # Starting with an empty history is the lesser evil than not starting; say so.
                log.warning("could not load %s's recent calls: %s", provider, type(exc).__name__)
        self._limiters[provider] = limiter

    async def reserve(self, provider: str, weight: int = 1, *, lookup: bool = False) -> float:
        limiter = self.limiter(provider)
        check_weight(provider, weight, limiter, lookup)
        now = self._clock()
        wait = limiter.reserve(weight, now, lookup=lookup)
        if wait == 0.0 and self._call_log is not None:
            await self._log_call(provider, now, weight)
        return wait

    async def reserve_counted(
        self, provider: str, weight: int = 1
    ) -> tuple[float, tuple[WindowUsage, ...]]:
        """:meth:`reserve`, plus the units used per window after the decision."""
        wait = await self.reserve(provider, weight)
        return wait, self.limiter(provider).usage(self._clock())

    def record(self, provider: str, weight: int, at: float | None = None) -> None:
        """Count a call granted elsewhere (the shared limiter mirrors its grants here)."""
        self.limiter(provider).record(weight, self._clock() if at is None else at)

    async def block_for(self, provider: str, seconds: float) -> None:
        self.limiter(provider).block_until(self._clock() + seconds)

    async def usage(self, provider: str) -> tuple[WindowUsage, ...]:
        return self.limiter(provider).usage(self._clock())

    def seed(self, provider: str, weights: Sequence[int], at: float) -> None:
        """Count units per window at ``at`` (window totals granted elsewhere)."""
        self.limiter(provider).record_per_window(weights, at)

    async def _log_call(self, provider: str, now: float, weight: int) -> None:
        assert self._call_log is not None
        try:
            await self._call_log.append(provider, now, weight)
            self._since_prune[provider] = self._since_prune.get(provider, 0) + 1
            if self._since_prune[provider] >= _PRUNE_EVERY:
                self._since_prune[provider] = 0
                window = max(limit.window for limit in self.limiter(provider).limits)
                await self._call_log.prune(provider, now - window)
        except CallLogError as exc:
            # The grant stands (this process still counts it); only restart-survival is lost.
            log.warning("could not log a call to %s: %s", provider, type(exc).__name__)


def check_weight(provider: str, weight: int, limiter: SlidingWindowLimiter, lookup: bool) -> None:
    """Refuse, with a typed error, a weight no window of ``limiter`` could ever grant."""
    if weight < 1:
        raise ValueError(f"weight must be at least 1, not {weight}")
    most = limiter.max_lookup_weight if lookup else limiter.max_weight
    if weight > most:
        shortest = min(limit.window for limit in limiter.limits)
        raise CallTooHeavyError(provider, weight, most, retry_after=shortest)
