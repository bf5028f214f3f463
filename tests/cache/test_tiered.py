"""TieredCache read path on a fake clock: read-through, promotion, freshness rules, negative
caching, singleflight, batches, failing tiers, invalidation and statistics. The three tiers
are MemoryTiers behind a FlakyTier wrapper (the real backends have their own contract suite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from marketsvc.cache import CacheKey, CachePolicy, MemoryTier, TieredCache
from marketsvc.domain import DataType
from marketsvc.errors import NotFoundError, ProviderUnavailableError, SymbolNotFoundError
from tests.cache.helpers import BatchLoader, CountingLoader, FlakyTier, settle_tasks
from tests.fakes import FakeClock

POLICY = CachePolicy(fresh_ttl=30, stale_ttl=300, negative_ttl=60)
KEY = CacheKey.of(DataType.PRICE, "BTC")


@pytest.fixture
def tiers(clock: FakeClock) -> list[FlakyTier]:
    return [FlakyTier(MemoryTier(100, 1_000_000, clock=clock), f"t{i}") for i in (1, 2, 3)]


@pytest.fixture
async def cache(tiers: list[FlakyTier], clock: FakeClock) -> AsyncIterator[TieredCache]:
    cache = TieredCache(tiers, clock=clock)
    yield cache
    await cache.aclose()


async def held(tier: FlakyTier, key: CacheKey = KEY) -> bytes | None:
    entry = await tier.inner.get(key.text)
    return None if entry is None else entry.payload


async def test_a_miss_loads_once_writes_every_tier_then_l1_answers(
    cache: TieredCache, tiers: list[FlakyTier]
) -> None:
    loader = CountingLoader(b"42")
    first = await cache.get_or_load(KEY, loader, POLICY)
    assert (first.tier, first.stale, first.cached, first.entry.payload) == (
        "upstream",
        False,
        False,
        b"42",
    )
    await cache.drain_writes()  # the tiers below L1 are written behind the answer
    assert [await held(t) for t in tiers] == [b"42", b"42", b"42"]
    second = await cache.get_or_load(KEY, loader, POLICY)
    assert (second.tier, second.entry.payload, loader.calls) == ("l1", b"42", 1)


async def test_a_lower_tier_hit_is_promoted_to_the_tiers_above(
    cache: TieredCache, tiers: list[FlakyTier], clock: FakeClock
) -> None:
    await tiers[2].set(KEY.text, POLICY.entry(b"from-l3", "polygon", clock() - 5))
    loader = CountingLoader()
    result = await cache.get_or_load(KEY, loader, POLICY)
    assert (result.tier, result.entry.payload, result.age_seconds) == ("l3", b"from-l3", 5)
    assert [await held(t) for t in tiers] == [b"from-l3"] * 3
    assert (await cache.get_or_load(KEY, loader, POLICY)).tier == "l1"
    assert loader.calls == 0


async def test_stale_while_revalidate_serves_at_once_and_refreshes_once(
    cache: TieredCache, clock: FakeClock
) -> None:
    await cache.get_or_load(KEY, CountingLoader(b"old"), POLICY)
    clock.advance(40)  # past fresh (30), well inside stale (300)
    refresh = CountingLoader(b"new")
    refresh.gate = asyncio.Event()
    answers = await asyncio.gather(*(cache.get_or_load(KEY, refresh, POLICY) for _ in range(50)))
    assert {(a.entry.payload, a.stale, a.age_seconds, a.tier) for a in answers} == {
        (b"old", True, 40, "l1")
    }
    await settle_tasks()
    assert refresh.calls == 1  # once, however many stale hits
    assert cache.counters.refreshes == 1  # and only one background task was started
    refresh.gate.set()
    await settle_tasks()
    after = await cache.get_or_load(KEY, refresh, POLICY)
    assert (after.entry.payload, after.stale, after.tier, refresh.calls) == (b"new", False, "l1", 1)


async def test_a_failed_refresh_keeps_serving_stale_and_backs_off(
    cache: TieredCache, clock: FakeClock
) -> None:
    await cache.get_or_load(KEY, CountingLoader(b"old"), POLICY)
    clock.advance(40)
    failing = CountingLoader()
    failing.error = ProviderUnavailableError("binance")
    for _ in range(5):
        result = await cache.get_or_load(KEY, failing, POLICY)
        assert (result.entry.payload, result.stale) == (b"old", True)
        await settle_tasks()
    assert failing.calls == 1  # no refresh per request against a failing upstream
    clock.advance(6)  # past the 5 s refresh backoff
    await cache.get_or_load(KEY, failing, POLICY)
    await settle_tasks()
    assert failing.calls == 2


async def test_past_the_revalidate_window_a_failing_loader_gets_stale_with_its_age(
    cache: TieredCache, clock: FakeClock
) -> None:
    policy = CachePolicy(fresh_ttl=30, stale_ttl=300, revalidate_ttl=10)
    await cache.get_or_load(KEY, CountingLoader(b"old"), policy)
    clock.advance(50)  # stale, and past fresh + 10 s: the request waits for the loader
    failing = CountingLoader()
    failing.error = ProviderUnavailableError("binance")
    result = await cache.get_or_load(KEY, failing, policy)
    assert (result.entry.payload, result.stale, result.age_seconds) == (b"old", True, 50)
    assert result.error is failing.error and failing.calls == 1
    fresh = await cache.get_or_load(KEY, CountingLoader(b"new"), policy)
    assert (fresh.entry.payload, fresh.stale, fresh.tier) == (b"new", False, "upstream")


async def test_stale_if_error_also_uses_a_lower_tier(
    cache: TieredCache, tiers: list[FlakyTier], clock: FakeClock
) -> None:
    policy = CachePolicy(fresh_ttl=30, stale_ttl=300, revalidate_ttl=0)
    await tiers[2].set(KEY.text, policy.entry(b"l3-only", "polygon", clock() - 120))
    failing = CountingLoader()
    failing.error = ProviderUnavailableError("polygon")
    result = await cache.get_or_load(KEY, failing, policy)
    assert (result.entry.payload, result.tier, result.stale, result.age_seconds) == (
        b"l3-only",
        "l3",
        True,
        120,
    )


async def test_with_nothing_held_the_error_propagates_and_is_never_cached(
    cache: TieredCache,
) -> None:
    loader = CountingLoader(b"ok")
    loader.error = ProviderUnavailableError("binance")
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):
            await cache.get_or_load(KEY, loader, POLICY)
    assert loader.calls == 2
    loader.error = None
    assert (await cache.get_or_load(KEY, loader, POLICY)).entry.payload == b"ok"


@pytest.mark.parametrize(
    "error", [SymbolNotFoundError("finnhub", "ZZZZ"), NotFoundError("ZZZZ")], ids=type
)
async def test_symbol_not_found_is_cached_briefly_in_every_tier(
    cache: TieredCache, tiers: list[FlakyTier], clock: FakeClock, error: Exception
) -> None:
    key = CacheKey.of(DataType.PRICE, "ZZZZ")
    loader = CountingLoader()
    loader.error = error
    for _ in range(3):
        with pytest.raises(type(error)):
            await cache.get_or_load(key, loader, POLICY)
    assert loader.calls == 1
    assert all([await t.inner.get(key.text) is not None for t in tiers])  # replicas see it
    clock.advance(61)
    loader.error = None
    assert (await cache.get_or_load(key, loader, POLICY)).tier == "upstream"
    assert loader.calls == 2


async def test_a_thousand_concurrent_misses_share_one_load(cache: TieredCache) -> None:
    loader = CountingLoader(b"shared")
    loader.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get_or_load(KEY, loader, POLICY)) for _ in range(1000)]
    await settle_tasks()
    loader.gate.set()
    results = await asyncio.gather(*tasks)
    assert loader.calls == 1
    assert {r.entry.payload for r in results} == {b"shared"}
    stats = await cache.stats()
    assert stats["loads"] == 1 and stats["coalesced"] == 999


async def test_a_cancelled_first_caller_does_not_fail_the_others(cache: TieredCache) -> None:
    loader = CountingLoader(b"v")
    loader.gate = asyncio.Event()
    first = asyncio.create_task(cache.get_or_load(KEY, loader, POLICY))
    await settle_tasks()
    second = asyncio.create_task(cache.get_or_load(KEY, loader, POLICY))
    await settle_tasks()
    first.cancel()
    loader.gate.set()
    assert (await second).entry.payload == b"v"
    assert first.cancelled() and loader.calls == 1


@pytest.mark.parametrize("exc", ["backend", "bug"])
async def test_a_failing_tier_is_skipped_and_counted(
    cache: TieredCache, tiers: list[FlakyTier], exc: str
) -> None:
    tiers[1].broken = True
    if exc == "bug":
        tiers[1].exc = RuntimeError("a tier should never raise this")
    loader = CountingLoader(b"v")
    for _ in range(3):
        tiers[0].inner = MemoryTier(100, 1_000_000)  # L1 lost (a restart): go down again
        result = await cache.get_or_load(KEY, loader, POLICY)
        assert result.entry.payload == b"v"
    assert loader.calls == 1  # answered by L3 after the first load, L2 skipped
    stats = await cache.stats()
    tier_stats = stats["tiers"]
    assert isinstance(tier_stats, dict)
    assert tier_stats["l2"]["errors"] >= 3 and tier_stats["l3"]["hits"] == 2
    assert stats["failed"] == 0


async def test_get_many_reads_each_tier_once_and_loads_the_rest_in_one_call(
    cache: TieredCache, tiers: list[FlakyTier], clock: FakeClock
) -> None:
    keys = {s: CacheKey.of(DataType.PRICE, s) for s in ("A", "B", "C", "D")}
    await tiers[0].set(keys["A"].text, POLICY.entry(b"a", "x", clock()))
    await tiers[2].set(keys["B"].text, POLICY.entry(b"b", "x", clock()))
    loader = BatchLoader({"C": b"c", "D": SymbolNotFoundError("binance", "D")})
    results = await cache.get_many(list(keys.values()), loader, POLICY)
    assert [t.get_many_calls for t in tiers] == [1, 1, 1]
    assert loader.calls == [["C", "D"]]
    a, b, c, d = (results[keys[s]] for s in "ABCD")
    assert not isinstance(a, Exception) and (a.tier, a.entry.payload) == ("l1", b"a")
    assert not isinstance(b, Exception) and (b.tier, b.entry.payload) == ("l3", b"b")
    assert not isinstance(c, Exception) and (c.tier, c.entry.payload) == ("upstream", b"c")
    assert isinstance(d, SymbolNotFoundError)
    again = await cache.get_many(list(keys.values()), loader, POLICY)
    assert [getattr(again[keys[s]], "tier", None) for s in "ABC"] == ["l1", "l1", "l1"]
    assert isinstance(again[keys["D"]], SymbolNotFoundError)  # negative entry, no reload
    assert len(loader.calls) == 1


async def test_get_many_joins_a_single_key_load_already_in_flight(cache: TieredCache) -> None:
    single = CountingLoader(b"from-single")
    single.gate = asyncio.Event()
    pending = asyncio.create_task(cache.get_or_load(KEY, single, POLICY))
    await settle_tasks()
    other = CacheKey.of(DataType.PRICE, "ETH")
    loader = BatchLoader({"ETH": b"eth"})
    batch = asyncio.create_task(cache.get_many([KEY, other], loader, POLICY))
    await settle_tasks()
    single.gate.set()
    results = await batch
    assert loader.calls == [["ETH"]]
    btc = results[KEY]
    assert not isinstance(btc, Exception) and btc.entry.payload == b"from-single"
    assert (await pending).entry.payload == b"from-single"


async def test_invalidate_by_symbol_and_by_data_type_reaches_every_tier(
    cache: TieredCache, tiers: list[FlakyTier]
) -> None:
    btc_history = CacheKey.of(DataType.HISTORICAL, "BTC", {"interval": "day"})
    eth = CacheKey.of(DataType.PRICE, "ETH")
    for key in (KEY, btc_history, eth):
        await cache.get_or_load(key, CountingLoader(key.symbol.encode()), POLICY)
    report = await cache.invalidate(symbol="BTC")
    assert report.removed == {"l1": 2, "l2": 2, "l3": 2} and report.failed == ()
    assert [await held(t, eth) for t in tiers] == [b"ETH"] * 3
    assert [await held(t, btc_history) for t in tiers] == [None] * 3
    tiers[1].broken = True
    report = await cache.invalidate(data_type=DataType.PRICE)
    assert report.failed == ("l2",) and report.removed == {"l3": 1, "l1": 1}
    assert await held(tiers[0], eth) is None


async def test_an_older_value_never_overwrites_a_newer_one_between_replicas(
    tiers: list[FlakyTier], clock: FakeClock
) -> None:
    # Two replicas sharing L2 and L3; B's clock runs 10 s behind, so its later write is older.
    b_clock = FakeClock(clock() - 10)
    a = TieredCache(tiers, clock=clock)
    b = TieredCache([MemoryTier(10, 100_000, clock=b_clock), tiers[1], tiers[2]], clock=b_clock)
    await a.get_or_load(KEY, CountingLoader(b"newer"), POLICY)
    await b.warm([(KEY, b"older", "x")], POLICY)
    assert [await held(t) for t in tiers] == [b"newer"] * 3


async def test_stats_report_per_tier_and_overall_hit_rates(
    cache: TieredCache, tiers: list[FlakyTier], clock: FakeClock
) -> None:
    await tiers[2].set(KEY.text, POLICY.entry(b"v", "x", clock()))
    loader = CountingLoader(b"w")
    await cache.get_or_load(KEY, loader, POLICY)  # l3 hit (l1, l2 miss)
    await cache.get_or_load(KEY, loader, POLICY)  # l1 hit
    await cache.get_or_load(CacheKey.of(DataType.PRICE, "ETH"), loader, POLICY)  # upstream
    stats = await cache.stats()
    assert (stats["requests"], stats["cache_hits"], stats["loads"]) == (3, 2, 1)
    assert stats["hit_rate"] == round(2 / 3, 4)
    l1 = stats["tiers"]["l1"]  # type: ignore[index]
    assert (l1["hits"], l1["misses"], l1["hit_rate"], l1["size"]) == (1, 2, round(1 / 3, 4), 2)
    assert l1["bytes"] >= 2 and stats["tiers"]["l3"]["hits"] == 1  # type: ignore[index]


async def test_the_answer_does_not_wait_for_the_lower_tiers_write(clock: FakeClock) -> None:
    """Miss-path latency: a slow SQL tier is written after the caller has its answer; the
    write still lands (drained on close)."""
    gate = asyncio.Event()

    class SlowTier(MemoryTier):
        async def set(self, key: str, entry: object) -> bool:  # type: ignore[override]
            await gate.wait()
            return await super().set(key, entry)  # type: ignore[arg-type]

    l1, l3 = MemoryTier(10, 100_000, clock=clock), SlowTier(10, 100_000, clock=clock)
    cache = TieredCache([l1, l3], clock=clock)
    result = await asyncio.wait_for(cache.get_or_load(KEY, CountingLoader(b"v"), POLICY), 1.0)
    assert result.tier == "upstream" and await l3.get(KEY.text) is None
    gate.set()
    await cache.aclose()
    stored = await l3.get(KEY.text)
    assert stored is not None and stored.payload == b"v"
