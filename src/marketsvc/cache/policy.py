"""How long answers stay fresh and servable, what a cache answer says, and negative entries.

Default TTLs per data type (``default_policies``), derived from the contract's
``CACHE_L2_DEFAULT_TTL`` (300 s, "short") and ``CACHE_L3_DEFAULT_TTL`` (3600 s, "long"):

==============  =========  ==========  ================  =============================
data type       fresh      stale       served at once    why
==============  =========  ==========  ================  =============================
prices          30 s       L2 (300 s)  30 s past fresh   a quote moves; a 4-minute-old price is
                                                         only worth serving if upstream fails
news            L2 (5 m)   L3 (1 h)    whole window      headlines trickle in; old ones stay true
technical       60 s       L3 (1 h)    whole window      derived from bars that change slowly
chart           60 s       L3 (1 h)    whole window      an image of the same bars (bytes cached)
historical      L3 (1 h)   24 × L3     whole window      closed bars never change
fundamentals    6 × L3     168 × L3    whole window      company data changes daily at most
analytics,      60 s       L3 (1 h)    whole window      like technical: derived from stored bars
patterns,
anomalies
sentiment       L2 (5 m)   L3 (1 h)    whole window      like news, which it scores
==============  =========  ==========  ================  =============================

"Served at once" is the stale-while-revalidate window: inside it a stale entry is answered
immediately and refreshed in the background; past it (but before ``stale_until``) the request
waits for the loader and gets the stale entry only if the loader fails (stale-if-error).
"Symbol not found" is remembered for 60 s everywhere: long enough to absorb a burst of bad
requests, short enough that a newly listed symbol appears quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import orjson

from marketsvc.cache.base import CacheEntry
from marketsvc.config import Settings
from marketsvc.domain import DataType
from marketsvc.errors import NotFoundError, SymbolNotFoundError

NEGATIVE_SOURCE = "!not_found"  # no provider name starts with "!"
NEGATIVE_TTL = 60.0


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """TTLs in seconds. ``stale_ttl`` counts from the fetch (it is the total servable age);
    ``revalidate_ttl`` counts from ``fresh_until`` (``None``: up to ``stale_until``)."""

    fresh_ttl: float
    stale_ttl: float
    negative_ttl: float = NEGATIVE_TTL
    revalidate_ttl: float | None = None

    def __post_init__(self) -> None:
        if self.fresh_ttl <= 0 or self.stale_ttl < self.fresh_ttl or self.negative_ttl < 0:
            raise ValueError("CachePolicy needs 0 < fresh_ttl <= stale_ttl and negative_ttl >= 0")
        if self.revalidate_ttl is not None and self.revalidate_ttl < 0:
            raise ValueError("CachePolicy.revalidate_ttl must be >= 0")

    def entry(self, payload: bytes, source: str, now: float) -> CacheEntry:
        return CacheEntry(payload, source, now, now + self.fresh_ttl, now + self.stale_ttl)

    def revalidate_until(self, entry: CacheEntry) -> float:
        if self.revalidate_ttl is None:
            return entry.stale_until
        return min(entry.stale_until, entry.fresh_until + self.revalidate_ttl)


def default_policies(settings: Settings) -> dict[DataType, CachePolicy]:
    """The per-data-type defaults tabled in this module's docstring."""
    short = float(settings.cache_l2_default_ttl)
    long = float(settings.cache_l3_default_ttl)
    price = CachePolicy(fresh_ttl=min(30.0, short), stale_ttl=short, revalidate_ttl=30.0)
    derived = CachePolicy(fresh_ttl=min(60.0, long), stale_ttl=long)
    return {
        DataType.PRICE: price,
        DataType.CRYPTO_PRICE: price,
        DataType.STOCK_PRICE: price,
        DataType.NEWS: CachePolicy(fresh_ttl=short, stale_ttl=max(short, long)),
        DataType.TECHNICAL: derived,
        DataType.ANALYTICS: derived,
        DataType.PATTERNS: derived,
        DataType.ANOMALIES: derived,
        DataType.SENTIMENT: CachePolicy(fresh_ttl=short, stale_ttl=max(short, long)),
        DataType.CHART: CachePolicy(fresh_ttl=min(60.0, long), stale_ttl=long),
        DataType.HISTORICAL: CachePolicy(fresh_ttl=long, stale_ttl=24 * long),
        DataType.FUNDAMENTALS: CachePolicy(fresh_ttl=6 * long, stale_ttl=168 * long),
    }


@dataclass(frozen=True, slots=True)
class CacheResult:
    """One answer of ``TieredCache``: the entry, which tier answered (``"l1"``, ``"l2"``,
    ``"l3"`` or ``"upstream"``), whether it is stale, and its age. ``error`` is the loader
    failure behind a stale-if-error answer."""

    entry: CacheEntry
    tier: str
    stale: bool
    age_seconds: float
    error: Exception | None = None

    @property
    def cached(self) -> bool:
        return self.tier != "upstream"


def negative_entry(exc: SymbolNotFoundError | NotFoundError, now: float, ttl: float) -> CacheEntry:
    """Remember "unknown symbol" (and which provider said so) without stale serving."""
    provider = exc.provider if isinstance(exc, SymbolNotFoundError) else None
    payload = orjson.dumps({"symbol": exc.symbol, "provider": provider})
    return CacheEntry(payload, NEGATIVE_SOURCE, now, now + ttl, now + ttl)


def raise_negative(entry: CacheEntry) -> NoReturn:
    """Raise the error a negative entry stands for (the same type the loader raised)."""
    data = orjson.loads(entry.payload)
    if data.get("provider"):
        raise SymbolNotFoundError(str(data["provider"]), str(data["symbol"]))
    raise NotFoundError(str(data["symbol"]))


def is_negative(entry: CacheEntry) -> bool:
    return entry.source == NEGATIVE_SOURCE
