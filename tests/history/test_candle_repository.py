"""CandleRepository against real PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.candles import CandleRepository
from marketsvc.db.tables import candles
from marketsvc.domain import AssetClass, Candle, Interval

T0 = datetime(2025, 3, 3, tzinfo=UTC)
STOCK, DAY = AssetClass.STOCK, Interval.DAY


def bars(n: int, bump: float = 0.0) -> list[Candle]:
    return [
        Candle(T0 + timedelta(days=i), 10 + i + bump, 12 + i + bump, 9 + i, 11 + i + bump, 1e6 + i)
        for i in range(n)
    ]


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


async def test_upsert_is_idempotent(repo: CandleRepository, symbol: str) -> None:
    first = bars(5)
    assert await repo.upsert(STOCK, symbol, DAY, first, "polygon", 1000.0) == 5
    assert await repo.upsert(STOCK, symbol, DAY, first, "polygon", 1000.0) == 5
    got = await repo.range(STOCK, symbol, DAY, 0, 2**40)
    assert got == first


async def test_upsert_updates_values_source_and_fetched_at(
    repo: CandleRepository, engine: AsyncEngine, symbol: str
) -> None:
    await repo.upsert(STOCK, symbol, DAY, bars(3), "polygon", 1000.0)
    newer = bars(3, bump=0.5)[1:]
    await repo.upsert(STOCK, symbol, DAY, newer, "yahoo", 2000.0)
    got = await repo.range(STOCK, symbol, DAY, 0, 2**40)
    assert got == [bars(3)[0], *newer]
    stamps = await repo.timestamps(STOCK, symbol, DAY, 0, 2**40)
    assert sorted(stamps.items()) == [
        (epoch(T0), 1000.0),
        (epoch(T0 + timedelta(days=1)), 2000.0),
        (epoch(T0 + timedelta(days=2)), 2000.0),
    ]
    async with engine.connect() as conn:  # the source column is not part of the read API
        sources = (
            (
                await conn.execute(
                    select(candles.c.source)
                    .where(candles.c.symbol == symbol)
                    .order_by(candles.c.ts)
                )
            )
            .scalars()
            .all()
        )
    assert sources == ["polygon", "yahoo", "yahoo"]


async def test_an_older_fetch_never_overwrites_a_newer_one(
    repo: CandleRepository, symbol: str
) -> None:
    await repo.upsert(STOCK, symbol, DAY, bars(2, bump=1.0), "new", 2000.0)
    await repo.upsert(STOCK, symbol, DAY, bars(2), "old", 1000.0)
    assert await repo.range(STOCK, symbol, DAY, 0, 2**40) == bars(2, bump=1.0)
    assert set((await repo.timestamps(STOCK, symbol, DAY, 0, 2**40)).values()) == {2000.0}


async def test_range_is_half_open_ordered_and_per_key(repo: CandleRepository, symbol: str) -> None:
    await repo.upsert(STOCK, symbol, DAY, list(reversed(bars(6))), "p", 1.0)
    await repo.upsert(STOCK, symbol, Interval.HOUR, bars(6), "p", 1.0)
    await repo.upsert(AssetClass.CRYPTO, symbol, DAY, bars(6), "p", 1.0)
    await repo.upsert(STOCK, symbol + "X", DAY, bars(6), "p", 1.0)
    start, end = epoch(T0 + timedelta(days=1)), epoch(T0 + timedelta(days=4))
    got = await repo.range(STOCK, symbol, DAY, start, end)
    assert got == bars(6)[1:4]
    stamps = await repo.timestamps(STOCK, symbol, DAY, start, end)
    assert sorted(stamps) == [start, start + 86400, start + 2 * 86400]
    assert await repo.range(STOCK, symbol, DAY, end, end) == []


async def test_missing_volume_naive_times_and_empty_upsert(
    repo: CandleRepository, symbol: str
) -> None:
    naive = Candle(datetime(2025, 3, 3, 0, 0), 1.0, 2.0, 0.5, 1.5, None)
    assert await repo.upsert(STOCK, symbol, DAY, [naive], "p", 1.0) == 1
    assert await repo.upsert(STOCK, symbol, DAY, [], "p", 1.0) == 0
    (got,) = await repo.range(STOCK, symbol, DAY, 0, 2**40)
    assert got.ts == T0 and got.volume is None


async def test_large_upsert(repo: CandleRepository, symbol: str) -> None:
    many = [
        Candle(T0 + timedelta(minutes=i), 1.0 + i, 2.0 + i, 0.5, 1.5, float(i)) for i in range(5000)
    ]
    assert await repo.upsert(STOCK, symbol, Interval.MINUTE, many, "p", 1.0) == 5000
    got = await repo.range(STOCK, symbol, Interval.MINUTE, 0, 2**40)
    assert len(got) == 5000 and got[-1] == many[-1]
