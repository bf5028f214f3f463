"""Which bars a history request still has to fetch (pure; ``now`` is an argument).

Vocabulary, all times epoch seconds (UTC):

* a *slot* is a bar's start on the interval's grid: whole minutes, hours, days at 00:00 UTC,
  weeks on Monday 00:00 UTC. Providers stamp the same daily bar differently (00:00 UTC,
  00:00 New York, the 09:30 open); all of them fall on the same UTC date, so stored bars are
  aligned to their slot first (:func:`align_to_slots`) and a fallback provider cannot add a
  second row for a day.
* a slot is *expected* when its market traded (stocks: NYSE days; intraday only slots that
  overlap 09:30–16:00 New York) and the bar has begun by ``now`` (a stock's day bar once the
  session opened).
* a bar is *settled* ``GRACE`` after it closes (a stock's day bar closes at 16:00 New York),
  allowing for upstream lag. A stored bar fetched after it settled is final and never fetched
  again; one fetched earlier — above all the newest, still-forming bar — is fetched again.
* a *gap* is a run of expected slots without a final bar, with nothing final in between;
  non-trading days inside a run do not split it. Runs are cut into pages of at most
  ``max_bars`` expected slots, each page a contiguous ``[start, end)`` range.

A fetch made after a slot settled is the last word on it even when the bar is absent (a stock
not yet listed, a minute without trades, an unmodelled closing): callers remember such ranges
(:func:`settled_part`) and pass them back as ``covered`` so they are not fetched again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.errors import InvalidInputError
from marketsvc.history.calendar import session_bounds, trading_day_numbers

Range = tuple[int, int]
IntArray = npt.NDArray[np.int64]

DAY = 86400
_FIRST_MONDAY = 4 * DAY  # 1970-01-05, the first Monday after the epoch
_EPOCH_DATE = date(1970, 1, 1)
MAX_SLOTS = 2_000_000  # ~4 years of crypto minutes; keeps one request's arrays small
GRACE = {Interval.MINUTE: 900, Interval.HOUR: 1800, Interval.DAY: 3600, Interval.WEEK: 3600}


def epoch(moment: datetime) -> int:
    """Whole epoch seconds; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def slot_floor(ts: int, interval: Interval) -> int:
    """The start of the slot holding ``ts``."""
    step = interval.seconds
    if interval is Interval.WEEK:
        return ts - (ts - _FIRST_MONDAY) % step
    return ts - ts % step


def align_to_slots(candles: Iterable[Candle], interval: Interval) -> list[Candle]:
    """Bars re-stamped with their slot start, oldest first; the last of duplicates wins."""
    by_slot: dict[int, Candle] = {}
    for c in candles:
        slot = slot_floor(epoch(c.ts), interval)
        by_slot[slot] = Candle(
            datetime.fromtimestamp(slot, tz=UTC), c.open, c.high, c.low, c.close, c.volume
        )
    return [by_slot[s] for s in sorted(by_slot)]


def expected_slots(
    asset_class: AssetClass, interval: Interval, start: int, end: int, now: float
) -> IntArray:
    """Slots in ``[slot_floor(start), end)`` that should hold a bar by ``now``, oldest first."""
    if interval is Interval.WEEK:
        raise InvalidInputError("week bars are derived from day bars; ask for day slots")
    step = interval.seconds
    first = slot_floor(start, interval)
    stop = min(end, int(now) + 1)  # a bar exists once it has begun
    if stop <= first:
        return np.empty(0, dtype=np.int64)
    if (stop - first) // step > MAX_SLOTS:
        raise InvalidInputError(
            f"range too long for {interval.value} bars: at most {MAX_SLOTS} bars per request"
        )
    if asset_class is AssetClass.CRYPTO:
        return np.arange(first, stop, step, dtype=np.int64)
    days = trading_day_numbers(first // DAY, (stop - 1) // DAY, asset_class)
    if interval is Interval.DAY:
        slots = days * DAY
        # Before the session opens today's bar does not exist yet.
        if slots.size and slots[-1] + DAY > now and session_bounds(_date(slots[-1]))[0] > now:
            slots = slots[:-1]
        return slots
    parts = []
    for day in days.tolist():
        opens, closes = session_bounds(_date(day * DAY))
        parts.append(np.arange(slot_floor(opens, interval), closes, step, dtype=np.int64))
    slots = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    return slots[(slots >= first) & (slots < stop)]


def settle_times(slots: IntArray, asset_class: AssetClass, interval: Interval) -> IntArray:
    """When each slot's bar is final: its close plus ``GRACE``."""
    grace = GRACE[interval]
    if asset_class is AssetClass.STOCK and interval is Interval.DAY:
        closes = [session_bounds(_date(s))[1] for s in slots.tolist()]
        return np.array(closes, dtype=np.int64) + grace
    return slots + interval.seconds + grace


def find_gaps(
    stored: Mapping[int, float],
    asset_class: AssetClass,
    interval: Interval,
    start: int,
    end: int,
    now: float,
    *,
    max_bars: int | None = None,
    covered: Sequence[Range] = (),
    forming_ttl: float = 0.0,
) -> list[Range]:
    """The ``[start, end)`` pages to fetch so that ``[start, end)`` is complete at ``now``.

    ``stored`` maps each stored slot to its ``fetched_at``; ``covered`` lists merged ranges
    already fetched after they settled (see :func:`settled_part`). A stored bar that was
    still forming counts as good enough while it is younger than ``forming_ttl`` seconds: a
    repeated request within that time costs no upstream call.
    """
    if max_bars is not None and max_bars < 1:
        raise InvalidInputError(f"max_bars must be at least 1, got {max_bars}")
    slots = expected_slots(asset_class, interval, start, end, now)
    if slots.size == 0:
        return []
    settle: npt.NDArray[np.float64] = settle_times(slots, asset_class, interval).astype(np.float64)
    if forming_ttl > 0:
        # A bar fetched at t is accepted as if final when t >= min(settle, now - ttl).
        settle = np.minimum(settle, now - forming_ttl)
    final = _final_mask(slots, stored, settle)
    if covered:
        final |= _inside(slots, covered)
    missing = np.flatnonzero(~final)
    if missing.size == 0:
        return []
    runs = np.split(missing, np.flatnonzero(np.diff(missing) > 1) + 1)
    step = interval.seconds
    pages: list[Range] = []
    for run in runs:
        size = max_bars or run.size
        for lo in range(0, run.size, size):
            begin = int(slots[run[lo]])
            nxt = lo + size
            # Pages of one run touch, so the weekends between them belong to one page.
            stop = int(slots[run[nxt]]) if nxt < run.size else int(slots[run[-1]]) + step
            pages.append((begin, stop))
    return pages


def settled_part(
    page: Range, asset_class: AssetClass, interval: Interval, now: float
) -> Range | None:
    """The leading part of a page fetched at ``now`` whose slots had all settled: that answer
    is final for them, whether or not it held their bars."""
    begin, stop = page
    slots = expected_slots(asset_class, interval, begin, stop, now)
    unsettled = np.flatnonzero(settle_times(slots, asset_class, interval) > now)
    cut = stop if unsettled.size == 0 else int(slots[unsettled[0]])
    return (begin, cut) if cut > begin else None


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, non-overlapping ranges; touching ranges are joined."""
    merged: list[Range] = []
    for begin, stop in sorted(ranges):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((begin, stop))
    return merged


def weekly_from_daily(days: Iterable[Candle]) -> list[Candle]:
    """Week bars (Monday 00:00 UTC) from day bars: first open, extreme high and low, last
    close, summed volume (None when any day lacks one)."""
    weeks: dict[int, list[Candle]] = {}
    for c in sorted(days, key=lambda c: c.ts):
        weeks.setdefault(slot_floor(epoch(c.ts), Interval.WEEK), []).append(c)
    out = []
    for week, bars in sorted(weeks.items()):
        volumes = [b.volume for b in bars]
        out.append(
            Candle(
                ts=datetime.fromtimestamp(week, tz=UTC),
                open=bars[0].open,
                high=max(b.high for b in bars),
                low=min(b.low for b in bars),
                close=bars[-1].close,
                volume=None if None in volumes else sum(v for v in volumes if v is not None),
            )
        )
    return out


def _date(ts: int) -> date:
    return _EPOCH_DATE + timedelta(days=int(ts) // DAY)


def _final_mask(
    slots: IntArray, stored: Mapping[int, float], settle: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    if not stored:
        return np.zeros(slots.size, dtype=np.bool_)
    keys = np.fromiter(stored.keys(), dtype=np.int64, count=len(stored))
    fetched = np.fromiter(stored.values(), dtype=np.float64, count=len(stored))
    order = np.argsort(keys)
    keys, fetched = keys[order], fetched[order]
    pos = np.minimum(np.searchsorted(keys, slots), keys.size - 1)
    final: npt.NDArray[np.bool_] = (keys[pos] == slots) & (fetched[pos] >= settle)
    return final


def _inside(slots: IntArray, ranges: Sequence[Range]) -> npt.NDArray[np.bool_]:
    starts = np.array([r[0] for r in ranges], dtype=np.int64)
    ends = np.array([r[1] for r in ranges], dtype=np.int64)
    idx = np.searchsorted(starts, slots, side="right") - 1
    safe = np.maximum(idx, 0)
    return (idx >= 0) & (slots < ends[safe])
