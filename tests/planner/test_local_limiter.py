"""LocalLimiter, and its database log surviving a restart (real SQLite file and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.engine import create_engine
from marketsvc.db.tables import provider_calls
from marketsvc.domain import RateLimit
from marketsvc.errors import ConfigError
from marketsvc.planner import DatabaseCallLog, LocalLimiter
from tests.fakes import FakeClock

DAY = RateLimit.parse_many("3/minute;5/day")
START = 1_700_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    # Resolved in a sync fixture: pg_url sets its database up with asyncio.run().
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(provider_calls.delete())  # the PostgreSQL DB is shared by the session
    try:
        yield engine
    finally:
        await engine.dispose()


async def row_count(engine: AsyncEngine, provider: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(provider_calls.c.provider == provider)
        return int((await conn.execute(query)).scalar_one())


async def test_a_restart_does_not_reset_a_daily_quota(engine: AsyncEngine) -> None:
    clock = FakeClock(START)
    first = LocalLimiter(clock=clock, call_log=DatabaseCallLog(engine))
    await first.configure("alphavantage", DAY)
    granted = 0
    for _ in range(5):
        while (wait := await first.reserve("alphavantage")) > 0:
            clock.now += wait
        granted += 1
    assert granted == 5
    clock.now += 3600  # an hour later the process restarts

    second = LocalLimiter(clock=clock, call_log=DatabaseCallLog(engine))
    await second.configure("alphavantage", DAY)
    usage = await second.usage("alphavantage")
    assert [u.used for u in usage] == [0, 5]
    wait = await second.reserve("alphavantage")
    # The first call of the day leaves the day window 86,400 s after it was made.
    assert wait == pytest.approx(START + 86400 - clock.now, abs=1e-3)
    assert await row_count(engine, "alphavantage") == 5


async def test_calls_outside_every_window_are_neither_loaded_nor_kept(engine: AsyncEngine) -> None:
    clock = FakeClock(START)
    log = DatabaseCallLog(engine)
    for age in (200_000.0, 90_000.0, 10.0):
        await log.append("tiingo", clock.now - age, 2)
    await log.append("other", clock.now - 200_000.0, 1)
    limiter = LocalLimiter(clock=clock, call_log=log)
    await limiter.configure("tiingo", RateLimit.parse_many("50/hour;1000/day"))
    assert [u.used for u in await limiter.usage("tiingo")] == [2, 2]
    assert await row_count(engine, "tiingo") == 1
    assert await row_count(engine, "other") == 1  # another provider's rows are not touched


async def test_a_broken_database_does_not_stop_granting(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    limiter = LocalLimiter(clock=FakeClock(START), call_log=DatabaseCallLog(engine))
    await limiter.configure("p", RateLimit.parse_many("2/minute"))
    async with engine.begin() as conn:
        await conn.run_sync(provider_calls.drop)
    # The grant stands and still counts in this process; only restart-survival is lost.
    assert await limiter.reserve("p") == 0.0
    assert await limiter.reserve("p") == 0.0
    assert await limiter.reserve("p") > 0.0
    await engine.dispose()


async def test_unconfigured_provider_is_refused_not_unlimited() -> None:
    limiter = LocalLimiter(clock=FakeClock(START))
    with pytest.raises(ConfigError, match="nobody"):
        await limiter.reserve("nobody")


async def test_block_for_and_record() -> None:
    clock = FakeClock(START)
    limiter = LocalLimiter(clock=clock)
    await limiter.configure("p", RateLimit.parse_many("3/minute"))
    limiter.record("p", 2)
    assert await limiter.reserve("p") == 0.0
    assert await limiter.reserve("p") > 0.0
    await limiter.block_for("p", 120.0)
    clock.now += 61
    assert await limiter.reserve("p") == pytest.approx(59.0, abs=1e-3)
