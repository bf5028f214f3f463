"""How fresh an answer is: judged from the answering provider's nature, the time since we
fetched it, and the data's own timestamp (a quote can be hours old when it reaches us).

Thresholds (documented in the README): ``realtime`` while the data is under 5 s old and the
provider streams real-time quotes; ``near_realtime`` under 60 s from a real-time or
near-real-time provider; otherwise ``delayed``; ``stale`` when served past its fresh time.
"Old" is the larger of the time since our fetch and the time since the provider's own quote
timestamp, so a recorded Binance ticker stamped 2017 is never ``realtime``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from marketsvc.domain import AssetClass, Freshness
from marketsvc.history.calendar import is_trading_day, session_bounds

REALTIME_MAX_AGE = 5.0
NEAR_REALTIME_MAX_AGE = 60.0


@dataclass(frozen=True, slots=True)
class Judgement:
    freshness: Freshness
    reason: str | None = None  # set when the data's own time, not our fetch, decided it


def _by_age(native: Freshness, age: float) -> Freshness:
    if age < REALTIME_MAX_AGE and native is Freshness.REALTIME:
        return Freshness.REALTIME
    if age < NEAR_REALTIME_MAX_AGE and native in (Freshness.REALTIME, Freshness.NEAR_REALTIME):
        return Freshness.NEAR_REALTIME
    return Freshness.DELAYED


def judge(
    native: Freshness,
    since_fetch: float,
    stale: bool,
    *,
    data_time: float | None = None,
    now: float | None = None,
    stock: bool = False,
) -> Judgement:
    """``native``: the answering provider's quote freshness; ``since_fetch``: seconds since we
    fetched it; ``data_time``: the provider's own timestamp of the data (epoch seconds)."""
    if stale:
        return Judgement(Freshness.STALE)
    by_fetch = _by_age(native, since_fetch)
    if data_time is None or now is None:
        return Judgement(by_fetch)
    data_age = max(0.0, now - data_time)
    by_data = _by_age(native, max(since_fetch, data_age))
    if by_data is by_fetch:
        return Judgement(by_fetch)
    reason = f"the provider's quote is {_span(data_age)} old"
    if stock and not market_open(now):
        reason += " (the US stock market is closed)"
    return Judgement(by_data, reason)


def market_open(now: float) -> bool:
    """Whether the regular US equity session is running at ``now`` (epoch seconds)."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    day: date = moment.date()
    if not is_trading_day(day, AssetClass.STOCK):
        return False
    opens, closes = session_bounds(day)
    return opens <= now < closes


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
