"""The orchestrator's answers: the ``Envelope`` (data plus where it came from and how fresh it
is), how freshness is judged, and ``CachedAnswers``, which turns a loader of domain data into
an Envelope through the tiered cache (force-refresh reads past the cache, writes back, and
falls back to what is held if upstream fails) while counting usage for the statistics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cachetools import LRUCache

from marketsvc.cache.base import CacheKey
from marketsvc.cache.policy import CachePolicy, CacheResult
from marketsvc.cache.tiered import TieredCache
from marketsvc.domain import DataType, Freshness
from marketsvc.errors import InvalidInputError, MarketsvcError, NotFoundError
from marketsvc.orchestrator import serialize
from marketsvc.orchestrator.usage import UsageTracker


@dataclass(frozen=True, slots=True)
class Envelope:
    """A data answer plus where it came from and how fresh it is. ``payload`` is the data as
    JSON object bytes, exactly as cached, so the hot path can send it without a round trip
    through Python objects."""

    payload: bytes
    source: str
    cached: bool
    freshness: Freshness
    age_seconds: float
    fetched_at: datetime
    tier: str = "upstream"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return serialize.loads(self.payload)


def freshness_of(native: Freshness, age: float, stale: bool) -> Freshness:
    """A provider's native freshness, downgraded by the answer's age."""
    if stale:
        return Freshness.STALE
    if age < 5 and native is Freshness.REALTIME:
        return Freshness.REALTIME
    if age < 60 and native in (Freshness.REALTIME, Freshness.NEAR_REALTIME):
        return Freshness.NEAR_REALTIME
    return Freshness.DELAYED


class CachedAnswers:
    def __init__(
        self,
        cache: TieredCache,
        policies: Mapping[DataType, CachePolicy],
        usage: UsageTracker,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.policies = dict(policies)
        self.usage = usage
        self._clock = clock
        # Keys of parameterless requests (every price) are built once per symbol: hashing the
        # parameters is a measurable part of an L1 hit.
        self._plain_keys: LRUCache[tuple[DataType, str], CacheKey] = LRUCache(maxsize=20_000)

    def _key(self, data_type: DataType, symbol: str, params: Mapping[str, object]) -> CacheKey:
        if params:
            return CacheKey.of(data_type, symbol, params)
        key = self._plain_keys.get((data_type, symbol))
        if key is None:
            key = self._plain_keys[(data_type, symbol)] = CacheKey.of(data_type, symbol)
        return key

    async def answer(
        self,
        data_type: DataType,
        cache_symbol: str,
        params: Mapping[str, object],
        load: Callable[[], Awaitable[tuple[dict[str, Any], str]]],
        *,
        force_refresh: bool,
        native: Freshness,
    ) -> Envelope:
        key = self._key(data_type, cache_symbol, params)

        async def loader() -> tuple[bytes, str]:
            data, source = await load()
            return serialize.dumps(data), source

        policy = self.policies[data_type]
        self.usage.active += 1
        try:
            if force_refresh:
                result = await self.refresh(key, loader, policy)
            else:
                result = await self.cache.get_or_load(key, loader, policy)
        finally:
            self.usage.active -= 1
        self.usage.answered(result.tier)
        entry = result.entry
        return Envelope(
            payload=entry.payload,
            source=entry.source,
            cached=result.cached,
            freshness=freshness_of(native, result.age_seconds, result.stale),
            age_seconds=result.age_seconds,
            fetched_at=datetime.fromtimestamp(entry.fetched_at, tz=UTC),
            tier=result.tier,
        )

    async def refresh(
        self,
        key: CacheKey,
        loader: Callable[[], Awaitable[tuple[bytes, str]]],
        policy: CachePolicy,
    ) -> CacheResult:
        """Bypass the cache for the read, write the answer back; if upstream fails, whatever
        the cache still holds is served (stale-if-error), else the error propagates."""
        try:
            payload, source = await loader()
        except (NotFoundError, InvalidInputError):
            raise
        except MarketsvcError as exc:
            failure = exc

            async def failing() -> tuple[bytes, str]:
                raise failure

            return await self.cache.get_or_load(key, failing, policy)
        fresh = policy.entry(payload, source, self._clock())
        await self.cache.write([(key.text, fresh)])
        return CacheResult(fresh, "upstream", stale=False, age_seconds=0.0)
