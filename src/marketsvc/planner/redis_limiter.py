"""The sliding-window decision of ``window.py``, made atomically inside Redis for every replica.

One Lua script prunes, checks every window and records the call, on Redis' own clock (``TIME``),
so N processes together respect the limit and clock skew between them does not matter. Per
provider and window there is a sorted set of granted calls (member ``"<seq>:<weight>"``, unique
thanks to a shared counter; score = Redis time) plus a running total, so a check costs the calls
that left the window, not the whole window. Keys share the hash tag ``{provider}``, so the script
also runs on a Redis Cluster.

When Redis cannot be reached the limiter falls back to a local share of each limit
(limit ÷ ``replica_count``, rounded down), never to "unlimited", and probes Redis again every
``probe_interval`` seconds. One slow answer from a healthy Redis (a replica under CPU load) is
not an outage: only ``failures_to_degrade`` failures in a row switch to local shares, and the
calls asked meanwhile wait a moment and ask again. Both switches count what the other side
granted (``_outage.py`` has the arithmetic and the reasoning).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from marketsvc.domain import RateLimit
from marketsvc.errors import CallTooHeavyError, ConfigError
from marketsvc.planner._outage import allowance_for_others, inside, shares, unseen
from marketsvc.planner._redis_scripts import BLOCK_LUA, RECORD_LUA, RESERVE_LUA, USAGE_LUA
from marketsvc.planner.limiter import LocalLimiter
from marketsvc.planner.window import MIN_WAIT, WindowUsage

log = logging.getLogger(__name__)

# Everything that means "Redis is not answering properly": redis-py's ConnectionError and
# TimeoutError derive from RedisError; a socket or our own asyncio.timeout raise OSError.
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisError, OSError)


def provider_keys(prefix: str, provider: str) -> str:
    """The common part of one provider's keys (the braces make it a Redis Cluster hash tag)."""
    return f"{prefix}:{{{provider}}}"


def window_key(prefix: str, provider: str, window: float) -> str:
    """The sorted set of granted calls for one window (member ``seq:weight``, score = time)."""
    return f"{provider_keys(prefix, provider)}:w{round(window * 1000)}ms"


def local_share(limits: Sequence[RateLimit], replica_count: int) -> tuple[RateLimit, ...]:
    """Each replica's part of the limits while Redis is away (limit ÷ replicas, rounded down;
    a limiter window needs one unit, so a 0 share is kept as 1 here and refused by the
    :class:`RedisLimiter` before it is asked)."""
    return tuple(
        RateLimit(max(1, part), limit.window, limit.unit)
        for part, limit in zip(shares(limits, replica_count), limits, strict=True)
    )


class RedisLimiter:
    """:class:`~marketsvc.planner.limiter.Limiter` shared by every replica through Redis.

    The client belongs to the caller. Give it short socket timeouts and few retries (redis-py's
    default retries with seconds of backoff): ``op_timeout`` bounds each operation anyway.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "marketsvc:limits",
        replica_count: int = 1,
        probe_interval: float = 1.0,
        op_timeout: float = 0.5,
        failures_to_degrade: int = 3,
        monotonic: Callable[[], float] = time.monotonic,
        fallback: LocalLimiter | None = None,
    ) -> None:
        if replica_count < 1 or failures_to_degrade < 1:
            raise ValueError("replica_count and failures_to_degrade must be at least 1")
        self._prefix = prefix
        self._replica_count = replica_count
        self._probe_interval = probe_interval
        self._op_timeout = op_timeout
        self._failures_to_degrade = failures_to_degrade
        self._monotonic = monotonic
        self._fallback = fallback or LocalLimiter()
        self._limits: dict[str, tuple[RateLimit, ...]] = {}
        self._reserved: dict[str, tuple[int, ...]] = {}
        self._shares: dict[str, tuple[int, ...]] = {}
        self._local_reserved: dict[str, tuple[int, ...]] = {}
        # Per provider: (monotonic time, units per window) Redis last reported.
        self._observed: dict[str, tuple[float, tuple[int, ...]]] = {}
        # Per provider: (monotonic time, weight) granted on the local share, for Redis later.
        self._local_grants: dict[str, list[tuple[float, int]]] = {}
        # Per provider: (monotonic time, weight) granted through Redis, still in a window;
        # they are in the local mirror already, so the switch must not count them twice.
        self._own_grants: dict[str, deque[tuple[float, int]]] = {}
        self._failures = 0
        self._down_since: float | None = None
        self._down_until: float | None = None
        self._reserve_script = client.register_script(RESERVE_LUA)
        self._usage_script = client.register_script(USAGE_LUA)
        self._block_script = client.register_script(BLOCK_LUA)
        self._record_script = client.register_script(RECORD_LUA)

    @property
    def degraded(self) -> bool:
        """True while decisions are local shares because Redis did not answer."""
        return self._down_until is not None

    async def configure(
        self, provider: str, limits: Sequence[RateLimit], reserved: Sequence[int] = ()
    ) -> None:
        if not limits:
            raise ConfigError(f"no rate limits configured for provider {provider!r}")
        keep = tuple(reserved) or (0,) * len(limits)
        parts = shares(limits, self._replica_count)
        self._limits[provider] = tuple(limits)
        self._reserved[provider] = keep
        self._shares[provider] = parts
        # Nothing seen yet counts as "nothing granted as of now": see _degrade.
        self._observed[provider] = (self._monotonic(), (0,) * len(limits))
        self._local_grants.setdefault(provider, [])
        self._own_grants.setdefault(provider, deque())
        # The reserve shrinks with the share, and always leaves ordinary calls a unit.
        local_keep = tuple(
            min(r // self._replica_count, max(0, p - 1)) for r, p in zip(keep, parts, strict=True)
        )
        self._local_reserved[provider] = local_keep
        await self._fallback.configure(
            provider, local_share(limits, self._replica_count), local_keep
        )

    async def reserve(self, provider: str, weight: int = 1, *, lookup: bool = False) -> float:
        limits = self._provider_limits(provider)
        ceilings = self._ceilings(provider, lookup)
        if not 1 <= weight <= min(ceilings):
            if weight < 1:
                raise ValueError(f"weight must be at least 1, not {weight}")
            shortest = min(limit.window for limit in limits)
            raise CallTooHeavyError(provider, weight, min(ceilings), retry_after=shortest)
        keys = [f"{provider_keys(self._prefix, provider)}:{name}" for name in ("blocked", "seq")]
        args: list[Any] = [weight]
        for limit, ceiling in zip(limits, ceilings, strict=True):
            zkey = window_key(self._prefix, provider, limit.window)
            keys += [zkey, f"{zkey}:sum"]
            args += [ceiling, limit.window, _ttl_ms(limit.window)]
        raw = await self._redis(self._reserve_script, keys, args, asked=(provider, weight))
        if raw is None:
            if self.degraded:
                return await self._reserve_locally(provider, weight, lookup)
            # Not (yet) an outage: ask again shortly rather than guess.
            return max(MIN_WAIT, min(0.05, self._probe_interval))
        self._observe(provider, raw[1:])
        wait = float(raw[0])
        if wait > 0.0:
            return max(MIN_WAIT, wait)
        # Mirror the grant locally: if Redis goes away, this replica's own recent calls still
        # count against its local share.
        self._fallback.record(provider, weight)
        self._remember_own(provider, weight, max(limit.window for limit in limits))
        return 0.0

    async def reserve_counted(
        self, provider: str, weight: int = 1
    ) -> tuple[float, tuple[WindowUsage, ...]]:
        """:meth:`reserve`, plus the units used per window after the decision, from the same
        round trip (client keys report them in their RateLimit headers). While the answer
        came from the local share (Redis away) or a Retry-After block, the last totals Redis
        reported are used, or the windows are reported full when there are none."""
        wait = await self.reserve(provider, weight)
        limits = self._limits[provider]
        observed = self._observed.get(provider)
        if observed is None:
            return wait, tuple(WindowUsage(lim, lim.limit) for lim in limits)
        used = observed[1]
        return wait, tuple(WindowUsage(lim, u) for lim, u in zip(limits, used, strict=True))

    async def block_for(self, provider: str, seconds: float) -> None:
        self._provider_limits(provider)
        await self._fallback.block_for(provider, seconds)  # holds even if Redis goes away
        await self._redis(
            self._block_script, [f"{provider_keys(self._prefix, provider)}:blocked"], [seconds]
        )

    async def usage(self, provider: str) -> tuple[WindowUsage, ...]:
        limits = self._provider_limits(provider)
        keys: list[str] = []
        args: list[Any] = []
        for limit in limits:
            zkey = window_key(self._prefix, provider, limit.window)
            keys += [zkey, f"{zkey}:sum"]
            args += [limit.window, _ttl_ms(limit.window)]
        raw = await self._redis(self._usage_script, keys, args)
        if raw is None:
            return await self._fallback.usage(provider)
        self._observe(provider, raw)
        used = [int(float(u)) for u in raw]
        reserved = self._reserved[provider]
        return tuple(
            WindowUsage(limit, u, r) for limit, u, r in zip(limits, used, reserved, strict=True)
        )

    def _provider_limits(self, provider: str) -> tuple[RateLimit, ...]:
        try:
            return self._limits[provider]
        except KeyError:
            raise ConfigError(f"no rate limits configured for provider {provider!r}") from None

    def _ceilings(self, provider: str, lookup: bool) -> list[int]:
        """Per window, the units a call may fill up to: all of them for a lookup, all but the
        reserve for an ordinary call."""
        totals = [limit.limit for limit in self._limits[provider]]
        if lookup:
            return totals
        return [t - r for t, r in zip(totals, self._reserved[provider], strict=True)]

    def _observe(self, provider: str, raw: Sequence[Any]) -> None:
        if len(raw) == len(self._limits[provider]):
            used = tuple(int(float(u)) for u in raw)
            self._observed[provider] = (self._monotonic(), used)

    def _remember_own(self, provider: str, weight: int, longest: float) -> None:
        now = self._monotonic()
        own = self._own_grants[provider]
        own.append((now, weight))
        while own and own[0][0] <= now - longest:
            own.popleft()

    async def _reserve_locally(self, provider: str, weight: int, lookup: bool) -> float:
        parts = self._shares[provider]
        keep = (0,) * len(parts) if lookup else self._local_reserved[provider]
        if weight > min(p - k for p, k in zip(parts, keep, strict=True)):
            # The local share cannot hold it (more replicas than units): wait for Redis.
            return self._probe_interval
        wait = await self._fallback.reserve(provider, weight, lookup=lookup)
        if wait == 0.0:
            self._local_grants[provider].append((self._monotonic(), weight))
        return wait

    async def _redis(
        self,
        script: Any,
        keys: list[str],
        args: list[Any],
        asked: tuple[str, int] | None = None,
    ) -> Any:
        """Run a script; None means Redis did not answer and the caller should wait or decide
        locally. ``asked`` (provider, weight) marks a reserve: if it timed out, Redis may have
        granted it, so it is counted locally as if it had been."""
        if self._down_until is not None and (
            self._monotonic() < self._down_until or not await self._come_back()
        ):
            return None
        try:
            async with asyncio.timeout(self._op_timeout):
                result = await script(keys=keys, args=args)
        except REDIS_DOWN as exc:
            if asked is not None and isinstance(exc, (TimeoutError, RedisTimeoutError)):
                self._fallback.record(*asked)
            self._failed(exc)
            return None
        self._failures = 0
        return result

    def _failed(self, exc: BaseException) -> None:
        now = self._monotonic()
        if self._down_until is not None:
            self._down_until = now + self._probe_interval
            return
        self._failures += 1
        if self._failures < self._failures_to_degrade:
            return
        log.warning(
            "Redis did not answer the rate limiter %d times in a row (%s): using local shares "
            "(1/%d of each limit, after the calls already granted) until it answers",
            self._failures,
            type(exc).__name__,
            self._replica_count,
        )
        self._down_since = now
        self._down_until = now + self._probe_interval
        clock_now = self._fallback.now()
        for provider, limits in self._limits.items():
            seen_at, seen = self._observed[provider]
            age = now - seen_at
            # The others' grants Redis reported, counted at the time they were seen (they were
            # granted no later); this replica's own are in the mirror already.
            own = inside(self._own_grants[provider], limits, now)
            others = [max(0, s - o) for s, o in zip(seen, own, strict=True)]
            self._fallback.seed(provider, others, clock_now - age)
            if self._replica_count > 1:
                # What the other replicas may have been granted since, at the latest time.
                gap = age + self._op_timeout
                self._fallback.seed(provider, unseen(limits, seen, gap), clock_now)

    async def _come_back(self) -> bool:
        """Probe Redis by telling it what was granted without it; True if that worked."""
        now = self._monotonic()
        assert self._down_since is not None
        # One probe at a time: callers meanwhile keep to the local share.
        self._down_until = now + self._probe_interval
        # The others may keep granting locally until their own next probe.
        outage = now - self._down_since + self._probe_interval + self._op_timeout
        try:
            async with asyncio.timeout(self._op_timeout):
                for provider, limits in self._limits.items():
                    own = inside(self._local_grants[provider], limits, now)
                    others = allowance_for_others(limits, self._replica_count, outage)
                    units = [a + b for a, b in zip(own, others, strict=True)]
                    if not any(units):
                        continue
                    keys = [f"{provider_keys(self._prefix, provider)}:seq"]
                    args: list[Any] = []
                    for limit, n in zip(limits, units, strict=True):
                        zkey = window_key(self._prefix, provider, limit.window)
                        keys += [zkey, f"{zkey}:sum"]
                        args += [n, limit.window, _ttl_ms(limit.window)]
                    await self._record_script(keys=keys, args=args)
        except REDIS_DOWN:
            self._down_until = self._monotonic() + self._probe_interval
            return False
        log.warning("Redis answers again: rate limits are shared again")
        for grants in self._local_grants.values():
            grants.clear()
        self._failures = 0
        self._down_since = None
        self._down_until = None
        return True


def _ttl_ms(window: float) -> int:
    # A second beyond the window so a key never vanishes while a call in it still counts.
    return int(window * 1000) + 1000
