"""A CandleRepository over each real database: PostgreSQL (shared per session, so tests use
unique symbols) and a fresh SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.candles import CandleRepository
from marketsvc.db.engine import create_engine


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    # Resolved in a sync fixture: pg_url creates its database with asyncio.run.
    name = "pg_url" if request.param == "postgresql" else "sqlite_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def repo(engine: AsyncEngine) -> CandleRepository:
    return CandleRepository(engine)


@pytest.fixture
def symbol() -> str:
    return f"T{uuid.uuid4().hex[:8].upper()}"
