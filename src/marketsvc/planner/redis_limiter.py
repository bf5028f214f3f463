"""The sliding-window decision of ``bucket.py``, made atomically inside Redis for every replica.

One Lua script prunes, checks every window and records the call, on Redis' own clock (``TIME``),
so N processes together respect the limit and clock skew between them does not matter. Per
provider and window there is a sorted set of granted calls (member ``"<seq>:<weight>"``, unique
thanks to a shared counter; score = Redis time) plus a running total, so a check costs the calls
that left the window, not the whole window. Keys share the hash tag ``{provider}``, so the script
also runs on a Redis Cluster.

When Redis cannot be reached the limiter falls back to a local share of each limit
(limit ÷ ``replica_count``), never to "unlimited", and probes Redis again every
``probe_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from marketsvc.domain import RateLimit
from marketsvc.errors import ConfigError
from marketsvc.planner.limiter import LocalLimiter
from marketsvc.planner.window import MIN_WAIT, WindowUsage

log = logging.getLogger(__name__)

# Everything that means "Redis is not answering properly": redis-py's ConnectionError and
# TimeoutError derive from RedisError; a socket or our own asyncio.timeout raise OSError.
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisError, OSError)

_LUA_COMMON = """
local function weight_of(member)
  return tonumber(string.match(member, ':(%d+)$'))
end

-- Drop calls that left the window (score <= edge); return the units still inside and keep
-- the running total in step. A missing total (first use) is rebuilt from the set.
local function prune(zkey, skey, edge, ttl)
  local raw = redis.call('GET', skey)
  local used = 0
  if raw then
    used = tonumber(raw)
    local gone = redis.call('ZRANGEBYSCORE', zkey, '-inf', edge)
    for _, m in ipairs(gone) do used = used - weight_of(m) end
    if #gone == 0 then return used end
  else
    local kept = redis.call('ZRANGEBYSCORE', zkey, string.format('(%.17g', edge), '+inf')
    for _, m in ipairs(kept) do used = used + weight_of(m) end
  end
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', edge)
  if redis.call('EXISTS', zkey) == 1 then
    redis.call('SET', skey, used, 'PX', ttl)
  else
    redis.call('DEL', skey)
  end
  return used
end

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: blocked-until, sequence, then (sorted set, total) per window.
# ARGV: weight, then (limit, window seconds, ttl ms) per window. Returns the wait, then the
# units used per window after the decision (absent while blocked), all as strings (Redis would
# truncate a Lua number to an integer).
_RESERVE_LUA = (
    _LUA_COMMON
    + """
local weight = tonumber(ARGV[1])
local blocked = tonumber(redis.call('GET', KEYS[1]) or '0')
if blocked > now then return {tostring(blocked - now)} end
local n = (#KEYS - 2) / 2
local used = {}
local wait = 0
for i = 1, n do
  local zkey, skey = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local limit, window, ttl = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), ARGV[3 * i + 1]
  used[i] = prune(zkey, skey, now - window, ttl)
  local excess = used[i] + weight - limit
  local start, freed = 0, 0
  while excess > 0 do
    -- Oldest first, until enough units will have left the window.
    local chunk = redis.call('ZRANGE', zkey, start, start + 99, 'WITHSCORES')
    if #chunk == 0 then break end
    for j = 1, #chunk, 2 do
      freed = freed + weight_of(chunk[j])
      if freed >= excess then
        wait = math.max(wait, tonumber(chunk[j + 1]) + window - now)
        excess = 0
        break
      end
    end
    start = start + 100
  end
end
if wait > 0 then
  local out = {tostring(wait)}
  for i = 1, n do out[i + 1] = tostring(used[i]) end
  return out
end
local member = redis.call('INCR', KEYS[2]) .. ':' .. weight
for i = 1, n do
  local zkey, skey, ttl = KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[3 * i + 1]
  redis.call('ZADD', zkey, now, member)
  redis.call('PEXPIRE', zkey, ttl)
  redis.call('SET', skey, used[i] + weight, 'PX', ttl)
end
local out = {'0'}
for i = 1, n do out[i + 1] = tostring(used[i] + weight) end
return out
"""
)

# KEYS: (sorted set, total) per window. ARGV: (window seconds, ttl ms) per window.
_USAGE_LUA = (
    _LUA_COMMON
    + """
local out = {}
for i = 1, #KEYS / 2 do
  local edge = now - tonumber(ARGV[2 * i - 1])
  out[i] = tostring(prune(KEYS[2 * i - 1], KEYS[2 * i], edge, ARGV[2 * i]))
end
return out
"""
)

# KEYS: blocked-until. ARGV: seconds. Never shortens an existing block.
_BLOCK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local seconds = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + seconds > current then
  local ttl = math.ceil(seconds * 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.17g', now + seconds), 'PX', ttl)
end
return tostring(math.max(now + seconds, current) - now)
"""


def provider_keys(prefix: str, provider: str) -> str:
    """The common part of one provider's keys (the braces make it a Redis Cluster hash tag)."""
    return f"{prefix}:{{{provider}}}"


def window_key(prefix: str, provider: str, window: float) -> str:
    """The sorted set of granted calls for one window (member ``seq:weight``, score = time)."""
    return f"{provider_keys(prefix, provider)}:w{round(window * 1000)}ms"


def local_share(limits: Sequence[RateLimit], replica_count: int) -> tuple[RateLimit, ...]:
    """Each replica's part of the limits while Redis is away. At least 1 unit per window, or
    a provider would be shut off entirely when replicas outnumber its limit."""
    return tuple(
        RateLimit(max(1, limit.limit // replica_count), limit.window, limit.unit)
        for limit in limits
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
        monotonic: Callable[[], float] = time.monotonic,
        fallback: LocalLimiter | None = None,
    ) -> None:
        if replica_count < 1:
            raise ValueError("replica_count must be at least 1")
        self._prefix = prefix
        self._replica_count = replica_count
        self._probe_interval = probe_interval
        self._op_timeout = op_timeout
        self._monotonic = monotonic
        self._fallback = fallback or LocalLimiter()
        self._limits: dict[str, tuple[RateLimit, ...]] = {}
        self._down_until: float | None = None
        self._reserve_script = client.register_script(_RESERVE_LUA)
        self._usage_script = client.register_script(_USAGE_LUA)
        self._block_script = client.register_script(_BLOCK_LUA)

    @property
    def degraded(self) -> bool:
        """True while decisions are local shares because Redis did not answer."""
        return self._down_until is not None

    async def configure(self, provider: str, limits: Sequence[RateLimit]) -> None:
        if not limits:
            raise ConfigError(f"no rate limits configured for provider {provider!r}")
        self._limits[provider] = tuple(limits)
        await self._fallback.configure(provider, local_share(limits, self._replica_count))

    async def reserve(self, provider: str, weight: int = 1) -> float:
        wait, _ = await self.reserve_counted(provider, weight)
        return wait

    async def reserve_counted(
        self, provider: str, weight: int = 1
    ) -> tuple[float, tuple[WindowUsage, ...]]:
        """:meth:`reserve`, plus the units used per window after the decision, from the same
        round trip (client keys report them in their RateLimit headers). While a Retry-After
        block holds, the usage is unknown and reported as full."""
        limits = self._provider_limits(provider)
        smallest = min(limit.limit for limit in limits)
        if not 1 <= weight <= smallest:
            raise ValueError(f"weight {weight} outside 1..{smallest} for {provider}")
        keys = [f"{provider_keys(self._prefix, provider)}:{name}" for name in ("blocked", "seq")]
        args: list[Any] = [weight]
        for limit in limits:
            zkey = window_key(self._prefix, provider, limit.window)
            keys += [zkey, f"{zkey}:sum"]
            args += [limit.limit, limit.window, _ttl_ms(limit.window)]
        raw = await self._redis(self._reserve_script, keys, args)
        if raw is None:
            return await self._fallback.reserve_counted(provider, weight)
        wait = float(raw[0])
        if len(raw) > len(limits):
            usage = tuple(WindowUsage(lim, int(u)) for lim, u in zip(limits, raw[1:], strict=True))
        else:
            usage = tuple(WindowUsage(lim, lim.limit) for lim in limits)
        if wait > 0.0:
            return max(MIN_WAIT, wait), usage
        # Mirror the grant locally: if Redis goes away, this replica's own recent calls still
        # count against its local share.
        self._fallback.record(provider, weight)
        return 0.0, usage

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
        used = [int(float(u)) for u in raw]
        return tuple(WindowUsage(limit, u) for limit, u in zip(limits, used, strict=True))

    def _provider_limits(self, provider: str) -> tuple[RateLimit, ...]:
        try:
            return self._limits[provider]
        except KeyError:
            raise ConfigError(f"no rate limits configured for provider {provider!r}") from None

    async def _redis(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a script; None means Redis is away and the caller should decide locally."""
        if self._down_until is not None and self._monotonic() < self._down_until:
            return None
        try:
            async with asyncio.timeout(self._op_timeout):
                result = await script(keys=keys, args=args)
        except REDIS_DOWN as exc:
            if self._down_until is None:
                log.warning(
                    "Redis unreachable for rate limits (%s): using local shares (1/%d of each "
                    "limit) until it answers",
                    type(exc).__name__,
                    self._replica_count,
                )
            self._down_until = self._monotonic() + self._probe_interval
            return None
        if self._down_until is not None:
            log.info("Redis answers again: rate limits are shared again")
            self._down_until = None
        return result


def _ttl_ms(window: float) -> int:
    # A second beyond the window so a key never vanishes while a call in it still counts.
    return int(window * 1000) + 1000
