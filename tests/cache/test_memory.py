"""MemoryTier specifics: both bounds hold, LRU order, evictions counted, O(1)-ish reads."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from marketsvc.cache import CacheEntry, CacheKey, MemoryTier
from marketsvc.cache.memory import ENTRY_OVERHEAD
from marketsvc.domain import DataType
from tests.fakes import FakeClock

NOW = 1_700_000_000.0


def k(i: int) -> str:
    return CacheKey.of(DataType.PRICE, f"S{i}").text


def e(size: int, fetched: float = NOW) -> CacheEntry:
    return CacheEntry(b"x" * size, "src", fetched, fetched + 30, fetched + 300)


@settings(max_examples=150, deadline=None, database=None)
@given(
    max_bytes=st.integers(min_value=ENTRY_OVERHEAD + 10, max_value=50_000),
    max_entries=st.integers(min_value=1, max_value=40),
    writes=st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 20_000)), min_size=1, max_size=120
    ),
)
def test_l1_never_exceeds_its_byte_or_entry_bound(
    max_bytes: int, max_entries: int, writes: list[tuple[int, int]]
) -> None:
    tier = MemoryTier(max_entries, max_bytes, clock=FakeClock(NOW))
    for step, (slot, size) in enumerate(writes):
        stored = tier.put(k(slot), e(size, NOW + step))
        usage = asyncio.run(tier.usage())
        assert usage.bytes is not None and usage.entries is not None
        assert usage.bytes <= max_bytes
        assert usage.entries <= max_entries
        held = [tier.peek(k(i)) for i in range(61)]
        assert sum(len(x.payload) for x in held if x is not None) <= max_bytes
        # Whatever fits is kept; whatever cannot fit is refused, never half-stored.
        assert stored == (size + 3 + ENTRY_OVERHEAD <= max_bytes)
        assert (tier.peek(k(slot)) is not None) == stored


async def test_least_recently_used_goes_first_and_is_counted() -> None:
    tier = MemoryTier(3, 1_000_000, clock=FakeClock(NOW))
    for i in range(3):
        tier.put(k(i), e(10))
    assert tier.peek(k(0)) is not None  # touch 0: now 1 is the least recently used
    tier.put(k(3), e(10))
    assert [i for i in range(4) if tier.peek(k(i)) is not None] == [0, 2, 3]
    assert (await tier.usage()).evictions == 1


async def test_byte_bound_evicts_as_many_as_needed() -> None:
    tier = MemoryTier(100, 3 * (1000 + 3 + ENTRY_OVERHEAD), clock=FakeClock(NOW))
    for i in range(3):
        tier.put(k(i), e(1000))
    tier.put(k(9), e(2000))  # needs the room of two small entries
    assert [i for i in (0, 1, 2, 9) if tier.peek(k(i)) is not None] == [2, 9]
    assert (await tier.usage()).evictions == 2


async def test_an_entry_larger_than_the_cache_is_refused_and_drops_the_old_value() -> None:
    tier = MemoryTier(10, 5000, clock=FakeClock(NOW))
    tier.put(k(1), e(10, NOW))
    tier.put(k(2), e(10, NOW))
    assert tier.put(k(1), e(10_000, NOW + 1)) is False
    assert tier.peek(k(1)) is None  # no stale version outliving its replacement
    assert tier.peek(k(2)) is not None  # and nothing else was flushed for it


async def test_expired_entries_stay_until_their_stale_horizon() -> None:
    clock = FakeClock(NOW)
    tier = MemoryTier(10, 100_000, clock=clock)
    tier.put(k(1), e(10))
    clock.advance(299)
    assert tier.peek(k(1)) is not None
    clock.advance(1)
    assert tier.peek(k(1)) is None
    assert (await tier.usage()).entries == 0  # dropped on read, not just hidden
