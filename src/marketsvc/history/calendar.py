"""When markets trade: crypto always; US equities on NYSE trading days, 09:30–16:00 New York.

NYSE full-day holidays are computed by rule for any year, so no table needs updating:
New Year's Day, Martin Luther King Jr. Day (from 1998), Washington's Birthday, Good Friday,
Memorial Day, Juneteenth (from 2022), Independence Day, Labor Day, Thanksgiving and Christmas.
A holiday on a Sunday is observed on Monday, one on a Saturday on Friday — except New Year's Day,
which NYSE does not move back into the old year (rule 7.2: the Friday would end an accounting
year). Not modelled: one-off closings (e.g. national days of mourning) and 13:00 early closes;
the history store copes with both by remembering ranges it fetched that came back empty.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from marketsvc.domain import AssetClass

NEW_YORK = ZoneInfo("America/New_York")
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)

_MONDAY, _THURSDAY, _SATURDAY, _SUNDAY = 0, 3, 5, 6
_EPOCH_DAY = date(1970, 1, 1)


def easter_sunday(year: int) -> date:
    """Western (Gregorian) Easter Sunday: the anonymous Gregorian computus (Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th ``weekday`` (0 = Monday) of the month; n = -1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    following = date(year + month // 12, month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """Saturday holidays close the Friday before, Sunday ones the Monday after."""
    if day.weekday() == _SATURDAY:
        return day - timedelta(days=1)
    if day.weekday() == _SUNDAY:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def nyse_holidays(year: int) -> frozenset[date]:
    """The weekdays of ``year`` on which NYSE is closed all day."""
    days = {
        _nth_weekday(year, 2, _MONDAY, 3),  # Washington's Birthday
        easter_sunday(year) - timedelta(days=2),  # Good Friday
        _nth_weekday(year, 5, _MONDAY, -1),  # Memorial Day
        _observed(date(year, 7, 4)),  # Independence Day
        _nth_weekday(year, 9, _MONDAY, 1),  # Labor Day
        _nth_weekday(year, 11, _THURSDAY, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),  # Christmas
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != _SATURDAY:
        days.add(_observed(new_year))
    if year >= 1998:
        days.add(_nth_weekday(year, 1, _MONDAY, 3))  # Martin Luther King Jr. Day
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))  # Juneteenth
    return frozenset(days)


def is_trading_day(day: date, asset_class: AssetClass) -> bool:
    """Whether bars exist for ``day``: every day for crypto, NYSE trading days for stocks."""
    if asset_class is AssetClass.CRYPTO:
        return True
    return day.weekday() < _SATURDAY and day not in nyse_holidays(day.year)


def trading_days(first: date, last: date, asset_class: AssetClass) -> list[date]:
    """Trading days from ``first`` to ``last``, both included."""
    count = (last - first).days + 1
    days = (first + timedelta(days=i) for i in range(max(count, 0)))
    return [d for d in days if is_trading_day(d, asset_class)]


def trading_day_numbers(first: int, last: int, asset_class: AssetClass) -> npt.NDArray[np.int64]:
    """Trading days from ``first`` to ``last`` (both included) as epoch day numbers (days since
    1970-01-01): the vectorised twin of :func:`trading_days` for long ranges."""
    days = np.arange(first, last + 1, dtype=np.int64)
    if asset_class is AssetClass.CRYPTO or days.size == 0:
        return days
    first_year = (_EPOCH_DAY + timedelta(days=first)).year
    last_year = (_EPOCH_DAY + timedelta(days=last)).year
    years = range(first_year, last_year + 1)
    closed = [(d - _EPOCH_DAY).days for y in years for d in nyse_holidays(y)]
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    keep: npt.NDArray[np.bool_] = (weekday < _SATURDAY) & ~np.isin(days, closed)
    return days[keep]


@lru_cache(maxsize=8192)
def session_bounds(day: date) -> tuple[int, int]:
    """Epoch seconds of the regular US equity session's open and close on ``day``
    (09:30 and 16:00 in New York, daylight saving time included)."""
    opens = datetime.combine(day, SESSION_OPEN, tzinfo=NEW_YORK)
    closes = datetime.combine(day, SESSION_CLOSE, tzinfo=NEW_YORK)
    return int(opens.timestamp()), int(closes.timestamp())
