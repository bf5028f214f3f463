"""Three-tier cache: L1 memory, L2 Redis, L3 SQL, read-through with stale serving.

Public names (everything else in this package is private)::

    TieredCache, CacheResult, CachePolicy, default_policies, InvalidationReport
    CacheKey, CacheEntry, CacheTier, TierUsage, TierError, invalidation_prefixes
    MemoryTier, RedisTier, DatabaseTier, RedisCoordination, TierBreaker

Wiring (the Container owns the Redis client and the engine, and closes them)::

    l2 = RedisTier(redis_client)
    cache = TieredCache(
        [MemoryTier(s.cache_l1_max_size, s.cache_l1_max_bytes), l2, DatabaseTier(engine)],
        coordination=RedisCoordination(l2),
    )
    await cache.start()   # invalidation listener
    ...
    await cache.aclose()
"""

from marketsvc.cache._breaker import TierBreaker
from marketsvc.cache._invalidation import InvalidationReport
from marketsvc.cache.base import (
    KEY_ROOT,
    BatchLoader,
    CacheEntry,
    CacheKey,
    CacheTier,
    Loader,
    TierError,
    TierUsage,
    invalidation_prefixes,
)
from marketsvc.cache.coordination import RedisCoordination
from marketsvc.cache.database import DatabaseTier
from marketsvc.cache.memory import MemoryTier
from marketsvc.cache.policy import CachePolicy, CacheResult, default_policies
from marketsvc.cache.redis import RedisTier
from marketsvc.cache.tiered import TieredCache

__all__ = [
    "KEY_ROOT",
    "BatchLoader",
    "CacheEntry",
    "CacheKey",
    "CachePolicy",
    "CacheResult",
    "CacheTier",
    "DatabaseTier",
    "InvalidationReport",
    "Loader",
    "MemoryTier",
    "RedisCoordination",
    "RedisTier",
    "TierBreaker",
    "TierError",
    "TierUsage",
    "TieredCache",
    "default_policies",
    "invalidation_prefixes",
]
