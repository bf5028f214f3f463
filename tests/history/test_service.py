"""HistoryService over a real database with a fake upstream and a fake clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.candles import CandleRepository
from marketsvc.db.tables import candles
from marketsvc.domain import AssetClass, Interval
from marketsvc.errors import InvalidInputError
from marketsvc.history.service import HistoryService
from tests.fakes import FakeClock
from tests.history._upstream import FakeUpstream, utc

STOCK, CRYPTO = AssetClass.STOCK, AssetClass.CRYPTO
DAY = Interval.DAY


def service(
    repo: CandleRepository, clock: FakeClock, upstream: FakeUpstream, **kw: object
) -> HistoryService:
    return HistoryService(repo, upstream, clock, **kw)  # type: ignore[arg-type]


async def test_two_years_of_stock_days_then_again_then_one_more_day(
    repo: CandleRepository, symbol: str
) -> None:
    # Friday 2025-06-13 18:00 New York: the day's bar closed at 16:00 and has settled.
    clock = FakeClock(utc("2025-06-13T22:00"))
    upstream = FakeUpstream(clock)
    svc = service(repo, clock, upstream)
    start, end = utc("2023-06-13"), utc("2025-06-14")

    first = await svc.get(symbol, STOCK, DAY, start, end)
    assert len(upstream.calls) == 1
    # 2023-06-13..2025-06-13: NYSE traded 139 + 252 + 113 days (upstream's own holiday list)
    assert len(first) == 139 + 252 + 113
    assert all(c.ts.hour == 0 for c in first)  # Polygon's 04:00/05:00 UTC stamps aligned
    assert first[0].ts == start and first[-1].ts == utc("2025-06-13")
    assert utc("2025-04-18") not in {c.ts for c in first}  # Good Friday

    assert await svc.get(symbol, STOCK, DAY, start, end) == first
    assert len(upstream.calls) == 1  # the same request again: no upstream call
    restarted = service(repo, clock, upstream)  # nothing in memory: stored bars + calendar
    assert await restarted.get(symbol, STOCK, DAY, start, end) == first
    assert len(upstream.calls) == 1

    # One more trading day (the weekend in between is not a gap): exactly one call, for it.
    clock.set(utc("2025-06-16T22:00"))
    more = await svc.get(symbol, STOCK, DAY, start, utc("2025-06-17"))
    assert len(upstream.calls) == 2
    assert upstream.calls[1][2:] == (utc("2025-06-16"), utc("2025-06-17"))
    assert more[:-1] == first and more[-1].ts == utc("2025-06-16")
    assert svc.stats.upstream_fetches == 2 and svc.stats.requests == 3


async def test_two_years_of_crypto_days_then_again_then_one_more_day(
    repo: CandleRepository, symbol: str
) -> None:
    clock = FakeClock(utc("2025-06-14T01:30"))  # the 13th closed at 00:00, settled at 01:00
    upstream = FakeUpstream(clock)
    svc = service(repo, clock, upstream)
    start, end = utc("2023-06-14"), utc("2025-06-14")
    first = await svc.get(symbol, CRYPTO, DAY, start, end)
    assert len(first) == 731 and len(upstream.calls) == 1
    assert await svc.get(symbol, CRYPTO, DAY, start, end) == first
    assert len(upstream.calls) == 1
    clock.set(utc("2025-06-15T01:30"))
    await svc.get(symbol, CRYPTO, DAY, start, end + timedelta(days=1))
    assert [c[2:] for c in upstream.calls[1:]] == [(utc("2025-06-14"), utc("2025-06-15"))]


async def test_the_forming_bar_is_refreshed_and_closed_bars_are_not(
    repo: CandleRepository, symbol: str
) -> None:
    clock = FakeClock(utc("2025-06-14T12:00"))
    upstream = FakeUpstream(clock)
    svc = service(repo, clock, upstream)
    start, end = utc("2025-06-01"), utc("2025-06-30")  # reaches past now

    def last_call() -> tuple[datetime, datetime]:
        return upstream.calls[-1][2], upstream.calls[-1][3]

    await svc.get(symbol, CRYPTO, DAY, start, end)
    assert last_call() == (start, utc("2025-06-15"))
    for hour in ("12:10", "18:00"):  # while the 14th forms, only it is fetched again
        clock.set(utc(f"2025-06-14T{hour}"))
        await svc.get(symbol, CRYPTO, DAY, start, end)
        assert last_call() == (utc("2025-06-14"), utc("2025-06-15"))
    clock.set(utc("2025-06-15T00:30"))  # the 14th closed but last seen forming; the 15th forms
    await svc.get(symbol, CRYPTO, DAY, start, end)
    assert last_call() == (utc("2025-06-14"), utc("2025-06-16"))
    clock.set(utc("2025-06-15T02:00"))  # fetched within the grace, so once more after it
    await svc.get(symbol, CRYPTO, DAY, start, end)
    assert last_call() == (utc("2025-06-14"), utc("2025-06-16"))
    clock.set(utc("2025-06-15T03:00"))  # the 14th is final now
    bars = await svc.get(symbol, CRYPTO, DAY, start, end)
    assert last_call() == (utc("2025-06-15"), utc("2025-06-16"))
    assert len(upstream.calls) == 6 and bars[-1].ts == utc("2025-06-15")


async def test_a_range_before_listing_is_not_fetched_again(
    repo: CandleRepository, symbol: str
) -> None:
    clock = FakeClock(utc("2025-06-14T12:00"))
    upstream = FakeUpstream(clock, listed=utc("2025-01-06"))
    svc = service(repo, clock, upstream)
    start, end = utc("2024-01-01"), utc("2025-06-01")
    bars = await svc.get(symbol, STOCK, DAY, start, end)
    assert bars[0].ts == utc("2025-01-06")
    await svc.get(symbol, STOCK, DAY, start, end)
    assert len(upstream.calls) == 1
    # The memory of empty ranges is per process: after a restart it is fetched once more.
    restarted = service(repo, clock, upstream)
    await restarted.get(symbol, STOCK, DAY, start, end)
    await restarted.get(symbol, STOCK, DAY, start, end)
    # (2024-01-01 is a holiday; the range ends after the last missing trading day)
    assert upstream.calls[1][2:] == (utc("2024-01-02"), utc("2025-01-04"))
    assert len(upstream.calls) == 2


async def test_weeks_are_derived_from_stored_days(repo: CandleRepository, symbol: str) -> None:
    clock = FakeClock(utc("2025-06-30T12:00"))
    upstream = FakeUpstream(clock)
    svc = service(repo, clock, upstream)
    weeks = await svc.get(symbol, CRYPTO, Interval.WEEK, utc("2025-06-04"), utc("2025-06-30"))
    assert {c[1] for c in upstream.calls} == {DAY}
    assert upstream.calls[0][2] == utc("2025-06-02")  # from that week's Monday
    assert [w.ts for w in weeks] == [utc("2025-06-02") + timedelta(weeks=i) for i in range(4)]
    days = await svc.get(symbol, CRYPTO, DAY, utc("2025-06-09"), utc("2025-06-16"))
    assert len(upstream.calls) == 1  # the days were stored by the weekly request
    assert weeks[1].open == days[0].open and weeks[1].close == days[-1].close
    assert weeks[1].high == max(d.high for d in days)
    assert weeks[1].volume == pytest.approx(sum(d.volume or 0 for d in days))


async def test_pages_and_resume_after_a_failure(repo: CandleRepository, symbol: str) -> None:
    clock = FakeClock(utc("2025-06-14T12:00"))
    upstream = FakeUpstream(clock, fail_on_call=3)
    svc = service(repo, clock, upstream, max_bars=lambda ac, iv: 100 if iv is DAY else 1)
    start, end = utc("2024-06-14"), utc("2025-06-14")  # 365 days: pages of 100
    with pytest.raises(ConnectionError):
        await svc.get(symbol, CRYPTO, DAY, start, end)
    assert len(upstream.calls) == 3
    bars = await svc.get(symbol, CRYPTO, DAY, start, end)
    assert len(bars) == 365
    # pages 1 and 2 were stored before the failure; only pages 3 and 4 are fetched again
    assert [c[2] for c in upstream.calls] == [
        start + timedelta(days=100 * i) for i in (0, 1, 2, 2, 3)
    ]
    assert upstream.calls[-1][3] == end


async def test_concurrent_identical_requests_fetch_once(
    repo: CandleRepository, symbol: str
) -> None:
    clock = FakeClock(utc("2025-06-14T12:00"))
    upstream = FakeUpstream(clock, delay=0.05)
    svc = service(repo, clock, upstream)
    start, end = utc("2025-01-01"), utc("2025-06-01")
    results = await asyncio.gather(*(svc.get(symbol, CRYPTO, DAY, start, end) for _ in range(5)))
    assert len(upstream.calls) == 1
    assert all(r == results[0] for r in results) and len(results[0]) == 151
    assert svc.stats.bars_served == 5 * 151 and svc.stats.bars_fetched == 151


async def test_source_is_stored(repo: CandleRepository, engine: AsyncEngine, symbol: str) -> None:
    clock = FakeClock(utc("2025-06-14T12:00"))
    await service(repo, clock, FakeUpstream(clock, source="binance")).get(
        symbol, CRYPTO, Interval.HOUR, utc("2025-06-14T08:00"), utc("2025-06-14T10:00")
    )
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(candles.c.source).where(candles.c.symbol == symbol))
        ).all()
    assert [r[0] for r in rows] == ["binance", "binance"]


async def test_empty_range_is_rejected(repo: CandleRepository, symbol: str) -> None:
    clock = FakeClock(utc("2025-06-14T12:00"))
    svc = service(repo, clock, FakeUpstream(clock))
    with pytest.raises(InvalidInputError):
        await svc.get(symbol, CRYPTO, DAY, utc("2025-06-02"), utc("2025-06-01"))
