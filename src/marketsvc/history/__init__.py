"""The history store: market calendar, gap planning and the gap-filling HistoryService."""

from marketsvc.history.calendar import (
    easter_sunday,
    is_trading_day,
    nyse_holidays,
    session_bounds,
    trading_day_numbers,
    trading_days,
)
from marketsvc.history.gaps import (
    align_to_slots,
    expected_slots,
    find_gaps,
    merge_ranges,
    settled_part,
    slot_floor,
    weekly_from_daily,
)
from marketsvc.history.service import FetchedCandles, HistoryFetch, HistoryService, HistoryStats

__all__ = [
    "FetchedCandles",
    "HistoryFetch",
    "HistoryService",
    "HistoryStats",
    "align_to_slots",
    "easter_sunday",
    "expected_slots",
    "find_gaps",
    "is_trading_day",
    "merge_ranges",
    "nyse_holidays",
    "session_bounds",
    "settled_part",
    "slot_floor",
    "trading_day_numbers",
    "trading_days",
    "weekly_from_daily",
]
