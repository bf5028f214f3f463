"""The cache tier contract, documented once here rather than in every implementation.

A tier stores :class:`CacheEntry` values under rendered :class:`CacheKey` strings. Three
implementations exist — ``MemoryTier`` (L1), ``RedisTier`` (L2), ``DatabaseTier`` (L3) — and one
contract test suite runs against all of them. Everything cross-cutting (read-through, promotion,
freshness decisions, singleflight, statistics, invalidation fan-out) lives in ``TieredCache``;
a tier only stores and returns bytes with their timestamps.

:class:`CacheTier` semantics every implementation keeps:

- ``get(key)`` returns the entry, or ``None`` when nothing is held or the entry is past its
  ``stale_until`` (entries past ``fresh_until`` but before ``stale_until`` ARE returned: the
  caller decides whether to serve them stale).
- ``get_many(keys)`` is ``get`` for many keys in one round trip; the answer is aligned with
  ``keys``.
- ``set(key, entry)`` stores the entry until its ``stale_until`` and returns ``True``; it returns
  ``False`` without storing when the tier already holds a *newer* entry for the key (larger
  ``fetched_at``: an older value never overwrites a newer one) or when the entry is already
  past ``stale_until``.  ``set_many`` is the batched form (one pipeline / statement).
- ``delete(key)`` removes the key (no error when absent).
- ``clear(prefix)`` removes every key starting with ``prefix`` and returns how many it removed
  (Redis: how many it found). ``prefix`` must come from :func:`invalidation_prefixes` — tiers
  refuse anything outside :data:`KEY_ROOT`, so no caller can empty a foreign namespace.
- ``usage()`` reports entries / bytes / evictions where the tier can know them cheaply.
- A backend failure (socket, timeout, SQL error, open circuit) is raised as :class:`TierError`,
  never as the backend's own exception; ``TieredCache`` counts it and skips the tier, so a tier
  failure is never a failed request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import quote

import orjson

from marketsvc.domain import DataType
from marketsvc.errors import (
    InvalidInputError,
    MarketsvcError,
    NotFoundError,
    SymbolNotFoundError,
)

# Bump the version when the key layout or an encoding changes: old keys then simply miss.
KEY_ROOT = "marketsvc:v1:"
MAX_SOURCE_LENGTH = 64  # cache_entries.source is String(64)
MAX_SYMBOL_LENGTH = 64


class TierError(MarketsvcError):
    """A tier's backend failed (or its circuit is open, ``skipped=True``).

    Internal to the cache package: ``TieredCache`` catches every one of these, counts it and
    skips the tier. It exists because ``marketsvc.errors`` has no cache error and a tier must
    translate its backend's exceptions once, at its boundary.
    """

    def __init__(self, tier: str, reason: str, *, skipped: bool = False) -> None:
        super().__init__(f"{tier}: {reason}")
        self.tier = tier
        self.reason = reason
        self.skipped = skipped


def _escape(part: str) -> str:
    # Percent-encode everything except [A-Za-z0-9_.~-]: no ':' separator, no Redis glob
    # character (* ? [ ] \ ^) and no whitespace can reach a key or a SCAN pattern.
    return quote(part, safe="")


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What is cached: a data type, a canonical symbol and the request's parameters.

    ``text`` is the stable string every tier stores under:
    ``marketsvc:v1:<data_type>:<symbol>:<params-hash>``. Parameters are only ever present as a
    hash (so nothing a caller passes — never put a secret there anyway — is readable in Redis
    or SQL), and the symbol is percent-encoded so it cannot inject a separator or a glob.
    """

    data_type: DataType
    symbol: str
    params_hash: str
    text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.symbol or len(self.symbol) > MAX_SYMBOL_LENGTH:
            raise InvalidInputError(f"cache key symbol must be 1..{MAX_SYMBOL_LENGTH} characters")
        prefix = f"{KEY_ROOT}{_escape(self.data_type.value)}:{_escape(self.symbol)}:"
        object.__setattr__(self, "text", prefix + self.params_hash)

    @classmethod
    def of(
        cls,
        data_type: DataType | str,
        symbol: str,
        params: Mapping[str, object] | None = None,
    ) -> CacheKey:
        """Build a key; ``params`` values may be anything orjson serialises (str, numbers,
        enums, datetimes...). Equal mappings give equal keys whatever their order."""
        try:
            dt = DataType(data_type)
        except ValueError:
            raise InvalidInputError(f"unknown data type {data_type!r}") from None
        blob = orjson.dumps(dict(params or {}), option=orjson.OPT_SORT_KEYS)
        digest = hashlib.blake2b(blob, digest_size=8).hexdigest()
        return cls(dt, symbol, digest)

    def __str__(self) -> str:
        return self.text


def invalidation_prefixes(
    data_type: DataType | str | None = None, symbol: str | None = None
) -> tuple[str, ...]:
    """The key prefixes an invalidation by data type and/or symbol covers.

    Always prefix-bounded under :data:`KEY_ROOT`; a symbol-only invalidation fans out over every
    ``DataType`` (keys start with the data type, so "any data type" is not a prefix).
    """
    if symbol is not None and (not symbol or len(symbol) > MAX_SYMBOL_LENGTH):
        raise InvalidInputError(f"symbol must be 1..{MAX_SYMBOL_LENGTH} characters")
    if data_type is None:
        if symbol is None:
            return (KEY_ROOT,)
        return tuple(f"{KEY_ROOT}{_escape(dt.value)}:{_escape(symbol)}:" for dt in DataType)
    try:
        dt = DataType(data_type)
    except ValueError:
        raise InvalidInputError(f"unknown data type {data_type!r}") from None
    if symbol is None:
        return (f"{KEY_ROOT}{_escape(dt.value)}:",)
    return (f"{KEY_ROOT}{_escape(dt.value)}:{_escape(symbol)}:",)


def check_prefix(prefix: str) -> None:
    """Refuse a clear outside the cache's own key space (tiers call this first)."""
    if not prefix.startswith(KEY_ROOT):
        raise ValueError(f"cache clear prefix must start with {KEY_ROOT!r}")


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached answer: the serialised payload, who supplied it, and its three instants
    (epoch seconds): fetched, fresh until, servable-as-stale until."""

    payload: bytes
    source: str
    fetched_at: float
    fresh_until: float
    stale_until: float

    def __post_init__(self) -> None:
        if len(self.source) > MAX_SOURCE_LENGTH:
            raise ValueError(f"cache entry source longer than {MAX_SOURCE_LENGTH} characters")
        if not self.fetched_at <= self.fresh_until <= self.stale_until:
            raise ValueError("cache entry needs fetched_at <= fresh_until <= stale_until")

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def is_servable(self, now: float) -> bool:
        return now < self.stale_until


@dataclass(frozen=True, slots=True)
class TierUsage:
    """What a tier knows about its own size; ``None`` where finding out is not cheap."""

    entries: int | None
    bytes: int | None
    evictions: int = 0


@runtime_checkable
class CacheTier(Protocol):
    name: str

    async def get(self, key: str) -> CacheEntry | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[CacheEntry | None]: ...

    async def set(self, key: str, entry: CacheEntry) -> bool: ...

    async def set_many(self, items: Sequence[tuple[str, CacheEntry]]) -> int: ...

    async def delete(self, key: str) -> None: ...

    async def clear(self, prefix: str) -> int: ...

    async def usage(self) -> TierUsage: ...


# What a read-through loads with: one key's (payload, source), or many keys' answers (each an
# exception of its own on failure).
Loader = Callable[[], Awaitable[tuple[bytes, str]]]
BatchLoader = Callable[
    [Sequence[CacheKey]], Awaitable[Mapping[CacheKey, tuple[bytes, str] | Exception]]
]
Loaded = tuple[CacheEntry, str]  # the entry and the tier label that supplied it
# "Unknown symbol" answers: cached briefly as negative entries, never served stale.
NOT_FOUND = (SymbolNotFoundError, NotFoundError)
