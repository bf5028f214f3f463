"""The orchestrator's answers: the ``Envelope`` (data plus where it came from and how fresh it
is) and ``CachedAnswers``, which turns a loader of domain data into
an Envelope through the tiered cache (force-refresh reads past the cache, writes back, and
falls back to what is held if upstream fails) while counting usage for the statistics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cachetools import LRUCache

from marketsvc.cache.base import CacheEntry, CacheKey
from marketsvc.cache.policy import CachePolicy, CacheResult
from marketsvc.cache.tiered import TieredCache
from marketsvc.domain import DataType, Freshness
from marketsvc.errors import InvalidInputError, MarketsvcError, NotFoundError
from marketsvc.orchestrator import serialize
from marketsvc.orchestrator.freshness import judge
from marketsvc.orchestrator.usage import UsageTracker

_UNREAD = object()


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


class CachedAnswers:
    def __init__(
        self,
        cache: TieredCache,
        policies: Mapping[DataType, CachePolicy],
        usage: UsageTracker,
        clock: Callable[[], float] = time.time,
        *,
        provider_freshness: Mapping[str, Freshness] | None = None,
    ) -> None:
        self.cache = cache
        self.policies = dict(policies)
        self.usage = usage
        self._clock = clock
        # Each provider's native quote freshness: an answer is judged by the provider that
        # actually answered it, not by the first of its chain.
        self._native = dict(provider_freshness or {})
        # The data's own timestamp per (key, fetched_at), read once from the payload.
        self._data_times: LRUCache[tuple[str, float], float | None] = LRUCache(maxsize=20_000)
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
        load: Callable[[], Awaitable[tuple[dict[str, Any] | bytes, str]]],
        *,
        force_refresh: bool,
        native: Freshness | None = None,
    ) -> Envelope:
        """``native``: the data's freshness by nature (history, news: delayed); ``None`` judges
        it by the answering provider and the data's own ``timestamp`` (prices). A loader may
        return bytes (a rendered chart): they are cached as they are, not as JSON."""
        key = self._key(data_type, cache_symbol, params)

        async def loader() -> tuple[bytes, str]:
            data, source = await load()
            return (data if isinstance(data, bytes) else serialize.dumps(data)), source

        policy = self.policies[data_type]
        self.usage.active += 1
        try:
            if force_refresh:
                result = await self.refresh(key, loader, policy)
            else:
                result = await self.cache.get_or_load(key, loader, policy)
        finally:
            self.usage.active -= 1
        return self._envelope(result, key, cache_symbol, native, force_refresh)

    def answer_hit(self, data_type: DataType, cache_symbol: str) -> Envelope | None:
        """``answer`` for a parameterless request when a fresh L1 entry can answer it without
        awaiting (the same Envelope, the same counters); ``None`` otherwise, nothing counted."""
        key = self._key(data_type, cache_symbol, {})
        result = self.cache.peek_fresh(key)
        if result is None:
            return None
        return self._envelope(result, key, cache_symbol, None, False)

    def _envelope(
        self,
        result: CacheResult,
        key: CacheKey,
        cache_symbol: str,
        native: Freshness | None,
        force_refresh: bool,
    ) -> Envelope:
        self.usage.answered(result.tier)
        entry = result.entry
        extra: dict[str, Any] = {}
        if native is None:
            now = self._clock()
            judged = judge(
                self._native.get(entry.source, Freshness.DELAYED),
                result.age_seconds,
                result.stale,
                data_time=self._data_time(key.text, entry),
                now=now,
                stock=cache_symbol.startswith("stock:"),
            )
            if judged.reason:
                extra["freshness_reason"] = judged.reason
            freshness = judged.freshness
        else:
            freshness = judge(native, result.age_seconds, result.stale).freshness
        if force_refresh and result.error is not None:
            # The refresh that was asked for did not happen: say so beside the held value.
            extra["refresh_failed"] = True
            extra["refresh_error"] = describe(result.error)
        return Envelope(
            payload=entry.payload,
            source=entry.source,
            cached=result.cached,
            freshness=freshness,
            age_seconds=result.age_seconds,
            fetched_at=datetime.fromtimestamp(entry.fetched_at, tz=UTC),
            tier=result.tier,
            extra=extra,
        )

    def _data_time(self, key: str, entry: CacheEntry) -> float | None:
        memo = (key, entry.fetched_at)
        held = self._data_times.get(memo, _UNREAD)
        if held is not _UNREAD:
            return held  # type: ignore[return-value]
        when: float | None = None
        try:
            stamp = serialize.loads(entry.payload).get("timestamp")
            if isinstance(stamp, str):
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            when = None
        self._data_times[memo] = when
        return when

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

            held = await self.cache.get_or_load(key, failing, policy)
            # A held value that is still fresh comes back without the failure attached; the
            # refresh was asked for, so the answer must say that it failed either way.
            return held if held.error is not None else replace(held, error=failure)
        fresh = policy.entry(payload, source, self._clock())
        # L1 before the answer (the next request reads it); Redis and SQL behind it.
        await self.cache.write_behind(key.text, fresh)
        return CacheResult(fresh, "upstream", stale=False, age_seconds=0.0)


def describe(exc: BaseException) -> str:
    """A failure in words a user understands (our errors' messages are written for that)."""
    if isinstance(exc, MarketsvcError) and str(exc):
        return str(exc)
    return "the providers could not be reached"
