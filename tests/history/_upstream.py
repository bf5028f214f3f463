"""Test doubles for the history service: a fake clock and a fake upstream that models a
provider independently of the code under test (its own holiday list, Polygon-style stamps)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.history.service import FetchedCandles
from tests.fakes import FakeClock

# NYSE's published full-day holidays (from its website), the upstream's own calendar.
PUBLISHED = {
    2021: ["01-01", "01-18", "02-15", "04-02", "05-31", "07-05", "09-06", "11-25", "12-24"],
    2022: ["01-17", "02-21", "04-15", "05-30", "06-20", "07-04", "09-05", "11-24", "12-26"],
    2023: [
        "01-02",
        "01-16",
        "02-20",
        "04-07",
        "05-29",
        "06-19",
        "07-04",
        "09-04",
        "11-23",
        "12-25",
    ],
    2024: [
        "01-01",
        "01-15",
        "02-19",
        "03-29",
        "05-27",
        "06-19",
        "07-04",
        "09-02",
        "11-28",
        "12-25",
    ],
    2025: [
        "01-01",
        "01-20",
        "02-17",
        "04-18",
        "05-26",
        "06-19",
        "07-04",
        "09-01",
        "11-27",
        "12-25",
    ],
    2026: [
        "01-01",
        "01-19",
        "02-16",
        "04-03",
        "05-25",
        "06-19",
        "07-03",
        "09-07",
        "11-26",
        "12-25",
    ],
    2027: [
        "01-01",
        "01-18",
        "02-15",
        "03-26",
        "05-31",
        "06-18",
        "07-05",
        "09-06",
        "11-25",
        "12-24",
    ],
}
CLOSED = {date.fromisoformat(f"{y}-{md}") for y, days in PUBLISHED.items() for md in days}


def published(year: int) -> set[date]:
    return {d for d in CLOSED if d.year == year}


def utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class FakeUpstream:
    """Answers day (and crypto minute/hour) bars for ``[start, end)`` that exist at the clock's
    time; records every call."""

    clock: FakeClock
    listed: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    source: str | None = None
    fail_on_call: int | None = None
    delay: float = 0.0
    calls: list[tuple[AssetClass, Interval, datetime, datetime]] = field(default_factory=list)

    async def __call__(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[Candle] | FetchedCandles:
        self.calls.append((asset_class, interval, start, end))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_on_call == len(self.calls):
            raise ConnectionError("upstream down")
        bars = [self.bar(t) for t in self._times(asset_class, interval, start, end)]
        return FetchedCandles(bars, self.source) if self.source else bars

    def _times(
        self, asset_class: AssetClass, interval: Interval, start: datetime, end: datetime
    ) -> list[datetime]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        step = timedelta(seconds=interval.seconds)
        t = max(start, self.listed)
        out = []
        while t < end and t <= now:
            if asset_class is AssetClass.CRYPTO:
                out.append(t)
            elif t.weekday() < 5 and t.date() not in CLOSED:
                # Polygon stamps a day bar at 00:00 New York; it exists from the 09:30 open.
                opens = t + timedelta(hours=14 if _winter(t) else 13, minutes=30)
                if opens <= now:
                    out.append(t + timedelta(hours=5 if _winter(t) else 4))
            t += step
        return out

    @staticmethod
    def bar(t: datetime) -> Candle:
        x = (t.timestamp() // 3600) % 97
        return Candle(t, 100 + x, 102 + x, 99 + x, 101 + x, 1000 + x)


def _winter(t: datetime) -> bool:
    # US daylight saving time, second Sunday of March to first Sunday of November (close enough
    # for a fake: the tests avoid the changeover days).
    return not (date(t.year, 3, 8) <= t.date() < date(t.year, 11, 1))
