"""HistoryService: serve candles from the history store, fetching only what is missing.

A request reads which bars are stored, asks :func:`~marketsvc.history.gaps.find_gaps` for the
missing pages, fetches those (one upstream call per page, through the ``fetch`` function the
orchestrator supplies — planner and provider chain live behind it), upserts the answers and
returns the stored bars. So a range asked twice costs upstream calls only for bars that were
still forming, and an indicator over stored history costs none.

Week bars are always derived from stored day bars: one source of truth, and no doubt about
which weekday a provider starts its weeks on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from cachetools import LRUCache

from marketsvc.db.candles import CandleRepository, SourceSpan
from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.errors import InvalidInputError
from marketsvc.history.gaps import (
    Range,
    align_to_slots,
    epoch,
    find_gaps,
    merge_ranges,
    settled_part,
    slot_floor,
    weekly_from_daily,
)

# How long a stored bar that was still forming (today's day bar, this hour's bar) is served
# before it is fetched again: a repeated request within it costs no upstream call.
FORMING_TTL: dict[Interval, float] = {
    Interval.MINUTE: 15.0,
    Interval.HOUR: 60.0,
    Interval.DAY: 60.0,
    Interval.WEEK: 60.0,
}


@dataclass(frozen=True, slots=True)
class FetchedCandles:
    """A fetch answer that names its provider (stored as the bars' ``source``)."""

    candles: Sequence[Candle]
    source: str


# fetch(symbol, asset_class, interval, start, end) -> bars in [start, end); interval is never
# WEEK. A plain sequence is stored with source "upstream".
HistoryFetch = Callable[
    [str, AssetClass, Interval, datetime, datetime],
    Awaitable[Sequence[Candle] | FetchedCandles],
]
MaxBars = int | Callable[[AssetClass, Interval], int]
_Key = tuple[AssetClass, str, Interval]


@dataclass(frozen=True, slots=True)
class HistoryStats:
    requests: int
    upstream_fetches: int
    bars_fetched: int
    bars_served: int


class HistoryService:
    """``clock`` returns epoch seconds; ``max_bars`` is the per-call page size (a number or a
    function of asset class and interval, e.g. 1000 for Binance)."""

    def __init__(
        self,
        repo: CandleRepository,
        fetch: HistoryFetch,
        clock: Callable[[], float] = time.time,
        *,
        max_bars: MaxBars = 1000,
        remembered_keys: int = 4096,
        forming_ttl: Mapping[Interval, float] | None = None,
    ) -> None:
        self._repo = repo
        self._fetch = fetch
        self._clock = clock
        self._max_bars = max_bars
        self._forming_ttl = dict(FORMING_TTL if forming_ttl is None else forming_ttl)
        # Ranges fetched after they settled, per series: their missing bars do not exist.
        # In memory only (bounded); after a restart such a range is fetched once more.
        self._covered: LRUCache[_Key, list[Range]] = LRUCache(maxsize=remembered_keys)
        self._locks: dict[_Key, asyncio.Lock] = {}
        self._lock_users: dict[_Key, int] = {}
        self._requests = 0
        self._fetches = 0
        self._bars_fetched = 0
        self._bars_served = 0

    @property
    def stats(self) -> HistoryStats:
        return HistoryStats(self._requests, self._fetches, self._bars_fetched, self._bars_served)

    async def get(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[Candle]:
        """Bars starting in ``[start, end)`` (``start`` rounded down to its bar), oldest first."""
        start_ts, end_ts = epoch(start), epoch(end)
        if start_ts >= end_ts:
            raise InvalidInputError(f"history range is empty: start {start} is not before {end}")
        self._requests += 1
        if interval is Interval.WEEK:
            first_week = slot_floor(start_ts, Interval.WEEK)
            days = await self._complete(symbol, asset_class, Interval.DAY, first_week, end_ts)
            bars = weekly_from_daily(days)
        else:
            bars = await self._complete(symbol, asset_class, interval, start_ts, end_ts)
        self._bars_served += len(bars)
        return bars

    async def _complete(
        self, symbol: str, asset_class: AssetClass, interval: Interval, start: int, end: int
    ) -> list[Candle]:
        key = (asset_class, symbol, interval)
        first = slot_floor(start, interval)
        # One fill per series at a time: a concurrent identical request waits, then finds the
        # bars stored instead of fetching them again.
        async with self._exclusive(key):
            now = self._clock()
            stored = await self._repo.timestamps(asset_class, symbol, interval, first, end)
            pages = find_gaps(
                stored,
                asset_class,
                interval,
                start,
                end,
                now,
                max_bars=self._page_size(asset_class, interval),
                covered=self._covered.get(key, ()),
                forming_ttl=self._forming_ttl.get(interval, 0.0),
            )
            for page in pages:
                await self._fetch_page(key, page, now)
        return await self._repo.range(asset_class, symbol, interval, first, end)

    async def _fetch_page(self, key: _Key, page: Range, now: float) -> None:
        asset_class, symbol, interval = key
        answer = await self._fetch(symbol, asset_class, interval, _utc(page[0]), _utc(page[1]))
        self._fetches += 1
        if isinstance(answer, FetchedCandles):
            raw, source = answer.candles, answer.source
        else:
            raw, source = answer, "upstream"
        bars = align_to_slots(raw, interval)
        # fetched_at is when the fetch began: a bar that closed during the call is not final.
        await self._repo.upsert(asset_class, symbol, interval, bars, source, now)
        self._bars_fetched += len(bars)
        done = settled_part(page, asset_class, interval, now)
        if done is not None:
            self._covered[key] = merge_ranges([*self._covered.get(key, ()), done])

    async def sources(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[SourceSpan]:
        """Which providers the stored bars of ``[start, end)`` came from (week bars: their
        day bars'), one span per provider."""
        stored = Interval.DAY if interval is Interval.WEEK else interval
        first = slot_floor(epoch(start), interval)
        return await self._repo.spans(asset_class, symbol, stored, first, epoch(end))

    def _page_size(self, asset_class: AssetClass, interval: Interval) -> int:
        if callable(self._max_bars):
            return self._max_bars(asset_class, interval)
        return self._max_bars

    @asynccontextmanager
    async def _exclusive(self, key: _Key) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._lock_users[key] = self._lock_users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[key] -= 1
            if not self._lock_users[key]:
                del self._lock_users[key], self._locks[key]


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
