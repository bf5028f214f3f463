"""ONE contract suite for every CacheTier: memory, real Redis, real PostgreSQL, SQLite."""

from __future__ import annotations

import pytest

from marketsvc.cache import (
    KEY_ROOT,
    CacheEntry,
    CacheKey,
    CacheTier,
    invalidation_prefixes,
)
from marketsvc.domain import DataType
from tests.fakes import FakeClock


def key(symbol: str = "BTC", data_type: DataType = DataType.PRICE, **params: object) -> str:
    return CacheKey.of(data_type, symbol, params).text


def entry(
    clock: FakeClock,
    payload: bytes = b"{}",
    *,
    age: float = 0.0,
    fresh: float = 30.0,
    stale: float = 300.0,
    source: str = "binance",
) -> CacheEntry:
    fetched = clock() - age
    return CacheEntry(payload, source, fetched, fetched + fresh, fetched + stale)


async def test_missing_key_is_none(tier: CacheTier) -> None:
    assert await tier.get(key("NOPE")) is None
    assert await tier.get_many([key("NOPE"), key("NADA")]) == [None, None]


async def test_round_trip_keeps_every_byte_and_instant(tier: CacheTier, clock: FakeClock) -> None:
    payload = bytes(range(256)) * 3 + b"\x00"
    stored = CacheEntry(
        payload, "coingecko", clock() - 0.123456789, clock() + 29.5, clock() + 299.25
    )
    assert await tier.set(key(), stored) is True
    assert await tier.get(key()) == stored
    empty = entry(clock, b"", source="")
    assert await tier.set(key("ETH"), empty) is True
    assert await tier.get(key("ETH")) == empty


async def test_stale_entries_are_returned_until_their_stale_horizon(
    tier: CacheTier, clock: FakeClock
) -> None:
    held = entry(clock, b"old", fresh=10, stale=100)
    await tier.set(key(), held)
    clock.advance(50)  # past fresh, inside stale: the caller decides to serve it stale
    assert await tier.get(key()) == held
    assert await tier.get_many([key()]) == [held]
    clock.advance(51)  # past stale: gone
    assert await tier.get(key()) is None
    assert await tier.get_many([key()]) == [None]


async def test_an_already_dead_entry_is_not_stored(tier: CacheTier, clock: FakeClock) -> None:
    dead = entry(clock, age=400)
    assert await tier.set(key(), dead) is False
    assert await tier.set_many([(key(), dead)]) == 0
    assert await tier.get(key()) is None


async def test_an_older_value_never_overwrites_a_newer_one(
    tier: CacheTier, clock: FakeClock
) -> None:
    newer = entry(clock, b"newer", age=1)
    older = entry(clock, b"older", age=5)
    assert await tier.set(key(), newer) is True
    assert await tier.set(key(), older) is False
    assert await tier.get(key()) == newer
    assert await tier.set_many([(key(), older)]) == 0
    assert await tier.get(key()) == newer
    newest = entry(clock, b"newest", age=0)
    assert await tier.set(key(), newest) is True
    assert await tier.get(key()) == newest


async def test_batches_are_aligned_and_keep_the_newest(tier: CacheTier, clock: FakeClock) -> None:
    items = [(key(f"S{i}"), entry(clock, f"p{i}".encode())) for i in range(120)]
    # A duplicate key inside one batch: the newest wins, whatever the order.
    items.append((key("S0"), entry(clock, b"p0-older", age=3)))
    assert await tier.set_many(items) == 120
    wanted = [key("S5"), key("MISSING"), key("S0"), key("S119")]
    found = await tier.get_many(wanted)
    assert [e.payload if e else None for e in found] == [b"p5", None, b"p0", b"p119"]


async def test_delete_removes_one_key_and_tolerates_absent_ones(
    tier: CacheTier, clock: FakeClock
) -> None:
    await tier.set(key("A"), entry(clock))
    await tier.set(key("B"), entry(clock))
    await tier.delete(key("A"))
    await tier.delete(key("NEVER-SET"))
    assert await tier.get(key("A")) is None
    assert await tier.get(key("B")) is not None


async def test_clear_is_bounded_by_the_prefix(tier: CacheTier, clock: FakeClock) -> None:
    keys = {
        "btc-price": key("BTC"),
        "btc-price-1d": key("BTC", interval="1d"),
        "btc-history": key("BTC", DataType.HISTORICAL),
        "btcx-price": key("BTCX"),  # shares the symbol's first letters: must survive
        "star-price": key("B*"),  # a glob character in a symbol is data, not a pattern
    }
    for k in keys.values():
        await tier.set(k, entry(clock))
    (prefix,) = invalidation_prefixes(DataType.PRICE, "B*")
    assert await tier.clear(prefix) == 1
    assert await tier.get(keys["star-price"]) is None
    assert await tier.get(keys["btc-price"]) is not None
    (prefix,) = invalidation_prefixes(DataType.PRICE, "BTC")
    assert await tier.clear(prefix) == 2
    survivors = {name for name, k in keys.items() if await tier.get(k) is not None}
    assert survivors == {"btc-history", "btcx-price"}
    assert await tier.clear(KEY_ROOT) == 2
    assert await tier.get(keys["btc-history"]) is None


async def test_clear_refuses_a_prefix_outside_the_cache_key_space(tier: CacheTier) -> None:
    with pytest.raises(ValueError, match="prefix"):
        await tier.clear("")
    with pytest.raises(ValueError, match="prefix"):
        await tier.clear("other-app:")


async def test_usage_counts_what_it_reports(tier: CacheTier, clock: FakeClock) -> None:
    await tier.set_many([(key(f"U{i}"), entry(clock, b"x" * 100)) for i in range(7)])
    usage = await tier.usage()
    assert usage.entries in (None, 7)
    assert usage.bytes is None or usage.bytes >= 700
    assert usage.evictions == 0
