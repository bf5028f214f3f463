"""Gap planning with fake stored histories (pure functions, explicit ``now``)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from marketsvc.domain import AssetClass, Candle, Interval
from marketsvc.errors import InvalidInputError
from marketsvc.history.gaps import (
    align_to_slots,
    expected_slots,
    find_gaps,
    merge_ranges,
    settled_part,
    slot_floor,
    weekly_from_daily,
)

STOCK, CRYPTO = AssetClass.STOCK, AssetClass.CRYPTO
DAY, HOUR, MINUTE = Interval.DAY, Interval.HOUR, Interval.MINUTE


def ts(text: str) -> int:
    """Epoch seconds of an ISO date/time, UTC unless it says otherwise."""
    moment = datetime.fromisoformat(text)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def weekdays(first: str, last: str, skip: set[str] = frozenset()) -> list[int]:  # type: ignore[assignment]
    d, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while d <= end:
        if d.weekday() < 5 and d.isoformat() not in skip:
            out.append(ts(d.isoformat()))
        d += timedelta(days=1)
    return out


HOLIDAYS_2025 = {
    "2025-01-01",
    "2025-01-20",
    "2025-02-17",
    "2025-04-18",
    "2025-05-26",
    "2025-06-19",
    "2025-07-04",
    "2025-09-01",
    "2025-11-27",
    "2025-12-25",
}
LATER = ts("2026-02-01")  # long after every bar below settled


def stored_at(slots: list[int], fetched_at: float = LATER) -> dict[int, float]:
    return dict.fromkeys(slots, fetched_at)


def test_stock_history_without_weekends_and_holidays_has_no_gaps() -> None:
    stored = stored_at(weekdays("2025-01-01", "2025-12-31", HOLIDAYS_2025))
    assert find_gaps(stored, STOCK, DAY, ts("2025-01-01"), ts("2026-01-01"), LATER) == []
    expected = set(expected_slots(STOCK, DAY, ts("2025-01-01"), ts("2026-01-01"), LATER).tolist())
    assert ts("2025-07-04") not in expected and ts("2025-04-18") not in expected
    assert ts("2025-07-05") not in expected and ts("2025-07-03") in expected


def test_the_same_history_has_gaps_for_crypto_which_trades_daily() -> None:
    stored = stored_at(weekdays("2025-03-01", "2025-03-31"))
    gaps = find_gaps(stored, CRYPTO, DAY, ts("2025-03-01"), ts("2025-04-01"), LATER)
    assert gaps[0] == (ts("2025-03-01"), ts("2025-03-03"))  # Sat 1, Sun 2
    assert len(gaps) == 5 and all(b - a == 2 * 86400 for a, b in gaps[1:])


def test_middle_gap_over_a_weekend_is_one_range() -> None:
    stored = stored_at(weekdays("2025-03-03", "2025-03-31", {"2025-03-07", "2025-03-10"}))
    gaps = find_gaps(stored, STOCK, DAY, ts("2025-03-03"), ts("2025-04-01"), LATER)
    assert gaps == [(ts("2025-03-07"), ts("2025-03-11"))]


def test_gap_before_a_holiday_ends_with_the_last_trading_day() -> None:
    stored = stored_at(weekdays("2025-06-23", "2025-07-11", {"2025-07-03", "2025-07-04"}))
    gaps = find_gaps(stored, STOCK, DAY, ts("2025-06-23"), ts("2025-07-12"), LATER)
    assert gaps == [(ts("2025-07-03"), ts("2025-07-04"))]


def test_gaps_at_both_ends() -> None:
    stored = stored_at(weekdays("2025-03-10", "2025-03-14"))
    gaps = find_gaps(stored, STOCK, DAY, ts("2025-03-03"), ts("2025-03-22"), LATER)
    assert gaps == [(ts("2025-03-03"), ts("2025-03-08")), (ts("2025-03-17"), ts("2025-03-22"))]


def test_paging_by_max_bars() -> None:
    start = ts("2025-01-01")
    pages = find_gaps({}, CRYPTO, HOUR, start, start + 2500 * 3600, LATER, max_bars=1000)
    assert pages == [
        (start, start + 1000 * 3600),
        (start + 1000 * 3600, start + 2000 * 3600),
        (start + 2000 * 3600, start + 2500 * 3600),
    ]
    stock_pages = find_gaps({}, STOCK, DAY, ts("2024-01-01"), ts("2026-01-01"), LATER, max_bars=100)
    slots = expected_slots(STOCK, DAY, ts("2024-01-01"), ts("2026-01-01"), LATER).tolist()
    assert len(slots) == 252 + 251  # NYSE 2024 traded 252 days
    assert len(stock_pages) == 6
    for (_, stop), (begin, _) in itertools.pairwise(stock_pages):
        assert stop == begin  # contiguous
    counts = [sum(a <= s < b for s in slots) for a, b in stock_pages]
    assert counts == [100, 100, 100, 100, 100, 3]


def test_forming_bar_is_always_missing_and_settled_bars_never() -> None:
    now = ts("2025-06-14T12:00")
    days = [ts("2025-06-10") + i * 86400 for i in range(5)]  # 10th .. 14th
    stored = stored_at(days, fetched_at=now - 600)
    # the 14th is still forming: fetched 10 minutes ago or not, it is fetched again
    assert find_gaps(stored, CRYPTO, DAY, days[0], ts("2025-06-20"), now) == [
        (days[4], days[4] + 86400)
    ]
    # the 13th, fetched 30 minutes after its close (inside the grace), is fetched once more
    stored[days[3]] = ts("2025-06-14T00:30")
    assert find_gaps(stored, CRYPTO, DAY, days[0], ts("2025-06-20"), now) == [
        (days[3], days[4] + 86400)
    ]
    # a past range never includes the forming bar, so nothing is fetched
    stored[days[3]] = now - 600
    assert find_gaps(stored, CRYPTO, DAY, days[0], days[4], now) == []


def test_stock_day_bar_exists_from_the_open_and_settles_after_the_close() -> None:
    day = ts("2025-06-13")
    before_open = ts("2025-06-13T09:00-04:00")
    assert expected_slots(STOCK, DAY, day, day + 86400, before_open).tolist() == []
    during = ts("2025-06-13T11:00-04:00")
    assert find_gaps({day: during - 60}, STOCK, DAY, day, day + 86400, during) == [
        (day, day + 86400)
    ]
    after = ts("2025-06-13T18:00-04:00")
    assert find_gaps({day: ts("2025-06-13T17:00-04:00")}, STOCK, DAY, day, day + 86400, after) == []
    assert find_gaps({day: ts("2025-06-13T16:30-04:00")}, STOCK, DAY, day, day + 86400, after) != []


def test_intraday_stock_slots_follow_the_session() -> None:
    jan, jul = date(2025, 1, 15), date(2025, 7, 15)
    for d, open_utc in ((jan, "14:30"), (jul, "13:30")):
        start = ts(d.isoformat())
        minutes = expected_slots(STOCK, MINUTE, start, start + 86400, LATER)
        assert minutes.size == 390
        assert minutes[0] == ts(f"{d.isoformat()}T{open_utc}")
        hours = expected_slots(STOCK, HOUR, start, start + 86400, LATER)
        assert hours.size == 7  # 09:00 (holds 09:30-10:00) .. 15:00 New York
    weekend = ts("2025-06-14")
    assert expected_slots(STOCK, HOUR, weekend, weekend + 2 * 86400, LATER).size == 0
    holiday = ts("2025-07-04")
    assert expected_slots(STOCK, MINUTE, holiday, holiday + 86400, LATER).size == 0


def test_minute_gap_inside_a_session_and_overnight_merge() -> None:
    start, end = ts("2025-06-12"), ts("2025-06-14")
    slots = expected_slots(STOCK, MINUTE, start, end, LATER).tolist()
    assert len(slots) == 780
    hole = slots[100:110]
    stored = stored_at([s for s in slots if s not in hole])
    assert find_gaps(stored, STOCK, MINUTE, start, end, LATER) == [(hole[0], hole[-1] + 60)]
    # the last 5 minutes of Thursday and the first 5 of Friday form one gap over the night
    stored = stored_at(slots[:385] + slots[395:])
    assert find_gaps(stored, STOCK, MINUTE, start, end, LATER) == [(slots[385], slots[394] + 60)]


def test_covered_ranges_are_not_fetched_again() -> None:
    start, end = ts("2025-03-03"), ts("2025-03-22")
    stored = stored_at(weekdays("2025-03-10", "2025-03-21"))
    covered = [(ts("2025-03-03"), ts("2025-03-10"))]  # fetched after it settled; came back empty
    assert find_gaps(stored, STOCK, DAY, start, end, LATER, covered=covered) == []
    assert find_gaps(stored, STOCK, DAY, start, end, LATER) == [(start, ts("2025-03-08"))]


def test_settled_part_stops_at_the_first_unsettled_bar() -> None:
    page = (ts("2025-06-10"), ts("2025-06-15"))
    assert settled_part(page, CRYPTO, DAY, ts("2025-06-14T12:00")) == (page[0], ts("2025-06-14"))
    assert settled_part(page, CRYPTO, DAY, ts("2025-06-14T00:30")) == (page[0], ts("2025-06-13"))
    assert settled_part(page, CRYPTO, DAY, ts("2025-06-16")) == page
    assert settled_part(page, CRYPTO, DAY, ts("2025-06-10T12:00")) is None


def test_slot_alignment_and_week_grid() -> None:
    assert slot_floor(ts("2025-06-13T14:30"), DAY) == ts("2025-06-13")
    assert slot_floor(ts("2025-06-15T23:59"), Interval.WEEK) == ts("2025-06-09")  # Monday
    assert slot_floor(ts("2025-06-16"), Interval.WEEK) == ts("2025-06-16")
    polygon = Candle(datetime(2025, 6, 13, 4, tzinfo=UTC), 1, 2, 0.5, 1.5, 10)  # 00:00 New York
    yahoo = Candle(datetime(2025, 6, 13, 13, 30, tzinfo=UTC), 1, 3, 0.5, 2.5, 20)  # the open
    naive = Candle(datetime(2025, 6, 12), 1, 2, 1, 2, None)
    aligned = align_to_slots([polygon, naive, yahoo], DAY)
    assert [c.ts for c in aligned] == [
        datetime(2025, 6, 12, tzinfo=UTC),
        datetime(2025, 6, 13, tzinfo=UTC),
    ]
    assert aligned[1].close == 2.5  # the later duplicate wins


def test_weekly_from_daily() -> None:
    t0 = datetime(2025, 6, 9, tzinfo=UTC)  # Monday
    days = [
        Candle(t0 + timedelta(days=i), 10 + i, 20 + i, 5 - i * 0.1, 11 + i, 100.0)
        for i in range(10)
    ]
    weeks = weekly_from_daily(reversed(days))
    assert [w.ts for w in weeks] == [t0, t0 + timedelta(days=7)]
    first = weeks[0]
    assert (first.open, first.high, first.close, first.volume) == (10, 26, 17, 700.0)
    assert first.low == pytest.approx(4.4)
    assert weeks[1].open == 17 and weeks[1].close == 20 and weeks[1].volume == 300.0
    days[8] = Candle(days[8].ts, 1, 2, 0.5, 1, None)
    assert weekly_from_daily(days)[1].volume is None


def test_merge_ranges() -> None:
    assert merge_ranges([(5, 8), (1, 3), (3, 4), (7, 10), (12, 13)]) == [(1, 4), (5, 10), (12, 13)]


def test_invalid_requests() -> None:
    with pytest.raises(InvalidInputError):
        find_gaps({}, CRYPTO, Interval.WEEK, 0, 10**6, LATER)
    with pytest.raises(InvalidInputError):
        find_gaps({}, CRYPTO, MINUTE, ts("2010-01-01"), ts("2025-01-01"), LATER)
    with pytest.raises(InvalidInputError):
        find_gaps({}, CRYPTO, DAY, 0, 10**6, LATER, max_bars=0)
    assert find_gaps({}, CRYPTO, DAY, ts("2030-01-01"), ts("2030-02-01"), LATER) == []
