"""Per-key limits: the planner's limiter (sliding windows, in one Lua script on Redis when
there is one) with each key as its own "provider" ``key:<id>``; nothing here counts itself.

With Redis every replica shares the same windows, so a key's limit holds exactly across
replicas; if Redis stops answering, the planner's limiter falls back to a local share
(limit ÷ REPLICA_COUNT) per replica, never to unlimited. Without Redis (one process) the
windows live in memory and a restart forgets them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from marketsvc.domain import RateLimit
from marketsvc.keys.model import ClientKey
from marketsvc.planner import WindowUsage


class CountingLimiter(Protocol):
    """The part of the planner's limiters used here (LocalLimiter, RedisLimiter)."""

    async def configure(self, provider: str, limits: Sequence[RateLimit]) -> None: ...

    async def reserve_counted(
        self, provider: str, weight: int = 1
    ) -> tuple[float, tuple[WindowUsage, ...]]: ...


@dataclass(frozen=True, slots=True)
class Admission:
    """One request's decision: ``wait`` is 0.0 when admitted, else the seconds until it
    would be; ``usage`` is each window's count after the decision."""

    wait: float
    usage: tuple[WindowUsage, ...]
    policy: str

    @property
    def admitted(self) -> bool:
        return self.wait == 0.0

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.wait))

    def state(self) -> str:
        """The IETF ``RateLimit`` field: per window, units left and seconds until they are all
        back. Sliding windows have no common reset instant, so ``t`` is the bound ``w`` (a unit
        spent now is back after ``w``), or the exact wait for a window that refused."""
        items = []
        for u in self.usage:
            reset = (
                self.retry_after if not self.admitted and u.left == 0 else math.ceil(u.limit.window)
            )
            items.append(f'"{u.limit}";r={u.left};t={reset}')
        return ", ".join(items)


def policy_header(limits: Sequence[RateLimit]) -> str:
    """The IETF ``RateLimit-Policy`` field: ``"60/minute";q=60;w=60, ...``."""
    return ", ".join(f'"{lim}";q={lim.limit};w={math.ceil(lim.window)}' for lim in limits)


class KeyLimits:
    def __init__(self, limiter: CountingLimiter) -> None:
        self._limiter = limiter
        self._configured: dict[str, tuple[tuple[RateLimit, ...], str]] = {}

    async def admit(self, key: ClientKey) -> Admission | None:
        """Count one request against the key's windows; None for a key without limits."""
        limits = key.limits
        if not limits:
            return None
        name = f"key:{key.id}"
        known = self._configured.get(key.id)
        if known is None or known[0] != limits:
            await self._limiter.configure(name, limits)
            known = (limits, policy_header(limits))
            self._configured[key.id] = known
        wait, usage = await self._limiter.reserve_counted(name)
        return Admission(wait, usage, known[1])
