"""Fixtures for the cache tests: a fake clock and one factory per tier implementation.

The contract suite is parametrised over ``tier``: memory, real Redis (namespaced per test),
real PostgreSQL and SQLite (both migrated by Alembic, via the root conftest's fixtures).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
from sqlalchemy import delete

from marketsvc.cache import CacheTier, DatabaseTier, MemoryTier, RedisTier
from marketsvc.db.engine import create_engine
from marketsvc.db.tables import cache_entries
from tests.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass(frozen=True)
class TierSpec:
    kind: str
    url: str = ""
    namespace: str = ""


@pytest.fixture(params=["memory", "redis", "postgres", "sqlite"])
def tier_spec(request: pytest.FixtureRequest) -> TierSpec:
    # Sync on purpose: the database fixtures run Alembic, which needs to be off the event loop.
    kind = request.param
    if kind == "redis":
        return TierSpec(
            kind, request.getfixturevalue("redis_url"), request.getfixturevalue("redis_namespace")
        )
    if kind == "postgres":
        return TierSpec(kind, request.getfixturevalue("pg_url"))
    if kind == "sqlite":
        return TierSpec(kind, request.getfixturevalue("sqlite_url"))
    return TierSpec(kind)


@pytest.fixture
async def tier(tier_spec: TierSpec, clock: FakeClock) -> AsyncIterator[CacheTier]:
    if tier_spec.kind == "memory":
        yield MemoryTier(1000, 10_000_000, clock=clock)
    elif tier_spec.kind == "redis":
        client = aioredis.from_url(tier_spec.url)
        try:
            yield RedisTier(client, namespace=tier_spec.namespace, clock=clock)
        finally:
            keys = [k async for k in client.scan_iter(match=f"{tier_spec.namespace}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
    else:
        engine = create_engine(tier_spec.url)
        try:
            # The PostgreSQL database lives for the whole session: start each test empty.
            async with engine.begin() as conn:
                await conn.execute(delete(cache_entries))
            yield DatabaseTier(engine, clock=clock)
        finally:
            await engine.dispose()
