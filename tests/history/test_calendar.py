"""The US equity calendar against NYSE's published holiday lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from marketsvc.domain import AssetClass
from marketsvc.history.calendar import (
    easter_sunday,
    is_trading_day,
    nyse_holidays,
    session_bounds,
    trading_day_numbers,
    trading_days,
)
from tests.history._upstream import PUBLISHED, published

STOCK = AssetClass.STOCK


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_holidays_match_the_published_lists(year: int) -> None:
    assert nyse_holidays(year) == published(year)


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (1818, "03-22"),
        (1943, "04-25"),
        (2000, "04-23"),
        (2019, "04-21"),
        (2024, "03-31"),
        (2025, "04-20"),
        (2038, "04-25"),
        (2285, "03-22"),
    ],
)
def test_easter_computus(year: int, easter: str) -> None:
    assert easter_sunday(year) == date.fromisoformat(f"{year}-{easter}")


def test_observance_rules() -> None:
    # New Year's Day on a Saturday is not moved back into the old year...
    assert date(2021, 12, 31) not in nyse_holidays(2021)
    assert is_trading_day(date(2021, 12, 31), AssetClass.STOCK)
    # ...but on a Sunday it moves to Monday; Juneteenth only from 2022.
    assert date(2017, 1, 2) in nyse_holidays(2017)
    assert date(2021, 6, 18) not in nyse_holidays(2021)
    assert all(d.weekday() < 5 for y in range(1990, 2060) for d in nyse_holidays(y))
    assert all(len(nyse_holidays(y)) in (9, 10) for y in range(2022, 2060))


def test_trading_days() -> None:
    assert not is_trading_day(date(2025, 7, 4), AssetClass.STOCK)
    assert not is_trading_day(date(2025, 4, 18), AssetClass.STOCK)  # Good Friday
    assert not is_trading_day(date(2025, 6, 14), AssetClass.STOCK)  # Saturday
    assert is_trading_day(date(2025, 7, 3), AssetClass.STOCK)
    for d in (date(2025, 7, 4), date(2025, 6, 14)):
        assert is_trading_day(d, AssetClass.CRYPTO)
    # 2025 has 261 weekdays and 10 weekday holidays (NYSE traded 250 days: the one-off closing
    # of 2025-01-09 is not a rule)
    assert len(trading_days(date(2025, 1, 1), date(2025, 12, 31), AssetClass.STOCK)) == 251
    assert len(trading_days(date(2025, 1, 1), date(2025, 12, 31), AssetClass.CRYPTO)) == 365


def test_session_follows_new_york_daylight_saving() -> None:
    winter_open, winter_close = session_bounds(date(2025, 1, 15))
    summer_open, summer_close = session_bounds(date(2025, 7, 15))
    assert datetime.fromtimestamp(winter_open, UTC) == datetime(2025, 1, 15, 14, 30, tzinfo=UTC)
    assert datetime.fromtimestamp(winter_close, UTC) == datetime(2025, 1, 15, 21, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(summer_open, UTC) == datetime(2025, 7, 15, 13, 30, tzinfo=UTC)
    assert summer_close - summer_open == 6.5 * 3600


def test_vectorised_trading_days_agree_with_the_date_version() -> None:
    first, last = date(2019, 12, 1), date(2028, 1, 31)
    epoch_day = date(1970, 1, 1)
    numbers = trading_day_numbers((first - epoch_day).days, (last - epoch_day).days, STOCK)
    dates = trading_days(first, last, STOCK)
    assert [epoch_day + timedelta(days=int(n)) for n in numbers] == dates
    crypto = trading_day_numbers(0, 9, AssetClass.CRYPTO)
    assert crypto.tolist() == list(range(10))
