"""The stored symbol lists (``symbol_universes`` table, built by the Alembic migrations) on
PostgreSQL and SQLite: round trip, whole-list replacement, stamps without payloads, and the
in-memory store that serves the merged index from them."""

from __future__ import annotations

import pytest

from marketsvc.db.engine import create_engine
from marketsvc.db.universes import UniverseRepository
from marketsvc.domain import AssetClass, SymbolMatch
from marketsvc.universe import SymbolUniverses

C, S = AssetClass.CRYPTO, AssetClass.STOCK


def coins(n: int, source: str = "coingecko") -> list[SymbolMatch]:
    return [
        SymbolMatch(f"C{i:05d}", f"Coin {i} – ünïcode", C, f"coin-{i}", source) for i in range(n)
    ]


@pytest.fixture(params=["postgres", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


async def test_lists_round_trip_and_are_replaced_whole(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        repo = UniverseRepository(engine)
        provider = f"p{id(engine) % 10_000}"  # the PostgreSQL database is shared by the session
        await repo.save(provider, C, coins(20_000), 100.0)
        await repo.save(provider, S, [SymbolMatch("PLTR", "Palantir", S, "PLTR", provider)], 101.0)
        stamps = await repo.stamps()
        assert stamps[(provider, C)] == 100.0 and stamps[(provider, S)] == 101.0
        loaded = {(s.provider, s.asset_class): s for s in await repo.load([(provider, C)])}
        assert set(loaded) == {(provider, C)}
        got = loaded[(provider, C)]
        assert got.fetched_at == 100.0 and got.matches == coins(20_000, provider)
        await repo.save(provider, C, coins(3, provider), 200.0)  # replaces, never appends
        again = [s for s in await repo.load() if s.provider == provider and s.asset_class is C]
        assert len(again) == 1 and again[0].matches == coins(3, provider)
        assert (await repo.stamps())[(provider, C)] == 200.0
    finally:
        await engine.dispose()


async def test_store_serves_the_merged_index_and_reloads_from_storage(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        writer = SymbolUniverses(UniverseRepository(engine))
        assert not writer.index.knows("C00001", C) and writer.index.knows("BTC", C)
        await writer.replace("coingecko", C, coins(10), 50.0)
        assert writer.index.knows("C00001", C)
        assert writer.sizes()["coingecko:crypto"] == 10
        # Another replica: nothing in memory until it loads what the first one stored.
        reader = SymbolUniverses(UniverseRepository(engine))
        assert await reader.stored_stamps() == {("coingecko", C): 50.0}
        assert await reader.load() == 1
        assert reader.index.knows("C00009", C) and reader.stamps() == {("coingecko", C): 50.0}
        assert reader.index.size(C) == 10 + 30
    finally:
        await engine.dispose()


async def test_store_without_a_repository_keeps_lists_in_memory() -> None:
    store = SymbolUniverses()
    assert await store.load() == 0
    await store.replace("finnhub", S, [SymbolMatch("PLTR", "PALANTIR", S, "PLTR", "finnhub")], 1.0)
    assert store.index.knows("PLTR", S)
    assert await store.stored_stamps() == {("finnhub", S): 1.0}
