"""Shared domain models: what every provider returns and every layer passes around.

Frozen, slotted dataclasses inside the service; pydantic lives only at the edges (settings, API
schemas, provider payload checks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any


class AssetClass(StrEnum):
    CRYPTO = "crypto"
    STOCK = "stock"


class DataType(StrEnum):
    CRYPTO_PRICE = "crypto_price"
    STOCK_PRICE = "stock_price"
    PRICE = "price"
    HISTORICAL = "historical"
    NEWS = "news"
    TECHNICAL = "technical"
    FUNDAMENTALS = "fundamentals"
    # Derived answers (api/routes/analytics.py): cached like the others, not fetched upstream.
    ANALYTICS = "analytics"
    PATTERNS = "patterns"
    ANOMALIES = "anomalies"
    SENTIMENT = "sentiment"
    CHART = "chart"  # rendered images (api/routes/charts.py)


# The data types the generic /market-data, batch and prefetch endpoints serve.
FETCHABLE_TYPES = frozenset(
    {
        DataType.CRYPTO_PRICE,
        DataType.STOCK_PRICE,
        DataType.PRICE,
        DataType.HISTORICAL,
        DataType.NEWS,
        DataType.TECHNICAL,
        DataType.FUNDAMENTALS,
    }
)


class Freshness(StrEnum):
    REALTIME = "realtime"
    NEAR_REALTIME = "near_realtime"
    DELAYED = "delayed"
    STALE = "stale"


class Priority(IntEnum):
    """Lower value = served first (asyncio.PriorityQueue pops the smallest)."""

    URGENT = 0
    HIGH = 1
    MEDIUM = 2
    LOW = 3
    BATCH = 4


class Interval(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"

    @property
    def seconds(self) -> int:
        return _INTERVAL_SECONDS[self]


_INTERVAL_SECONDS = {
    Interval.MINUTE: 60,
    Interval.HOUR: 3600,
    Interval.DAY: 86400,
    Interval.WEEK: 7 * 86400,
}


class Capability(StrEnum):
    QUOTE = "quote"
    BATCH_QUOTE = "batch_quote"
    HISTORY = "history"
    NEWS = "news"
    FUNDAMENTALS = "fundamentals"
    SEARCH = "search"


SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9.\-:/_^=]{1,32}$")


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    price: float
    change: float | None
    change_percent: float | None
    timestamp: datetime
    currency: str
    asset_class: AssetClass
    source: str
    volume: float | None = None
    market_cap: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    previous_close: float | None = None


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; ``ts`` is the bar's start (UTC)."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None


@dataclass(frozen=True, slots=True)
class ArticleSentiment:
    """A score in [-1, 1], its label (positive / neutral / negative) and how it was made
    (``vader``, ``alphavantage``, ``massive_insights``); ``tickers``: per-ticker scores when
    the provider gives them."""

    score: float
    label: str
    method: str
    provider_label: str | None = None
    tickers: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    url: str
    published_at: datetime
    provider: str
    source_name: str | None = None
    summary: str | None = None
    image_url: str | None = None
    tickers: tuple[str, ...] = ()
    sentiment: ArticleSentiment | None = None  # the provider's own score, when it has one


@dataclass(frozen=True, slots=True)
class Fundamentals:
    symbol: str
    source: str
    name: str | None = None
    description: str | None = None
    exchange: str | None = None
    currency: str | None = None
    country: str | None = None
    sector: str | None = None
    industry: str | None = None
    website: str | None = None
    employees: int | None = None
    market_cap: float | None = None
    shares_outstanding: float | None = None
    pe_ratio: float | None = None
    eps: float | None = None
    dividend_yield: float | None = None
    beta: float | None = None
    week52_high: float | None = None
    week52_low: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SymbolMatch:
    symbol: str
    name: str
    asset_class: AssetClass
    provider_symbol: str
    source: str


_WINDOW_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    # A provider "month" is counted as a sliding 30-day window: never more than N calls in any
    # 30 days is at least as strict as any calendar month of 28-31 days that the window covers.
    "month": 30 * 86400,
}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` weight units in any window of ``window`` seconds."""

    limit: int
    window: float
    unit: str

    def __str__(self) -> str:
        return f"{self.limit}/{self.unit}"

    def padded(self, margin: float) -> RateLimit:
        """The same limit over a slightly longer window. Calls leave us when granted but reach
        the provider after a variable delay; widening our window by more than that jitter
        (plus 1 % for the provider's own clock) keeps the provider's window honest too."""
        return RateLimit(self.limit, self.window * 1.01 + margin, self.unit)

    @classmethod
    def parse_many(cls, text: str) -> tuple[RateLimit, ...]:
        """Parse ``"30/minute;10000/month"``; raise ValueError with a clear message."""
        limits: list[RateLimit] = []
        for raw in text.replace(",", ";").split(";"):
            part = raw.strip()
            if not part:
                continue
            count, sep, unit = part.partition("/")
            unit = unit.strip().lower().removesuffix("s")
            if not sep or unit not in _WINDOW_SECONDS:
                raise ValueError(
                    f"bad rate limit {part!r}: expected N/unit with unit one of "
                    f"{', '.join(_WINDOW_SECONDS)} (e.g. 30/minute;10000/month)"
                )
            try:
                n = int(count.strip())
            except ValueError:
                raise ValueError(
                    f"bad rate limit {part!r}: {count.strip()!r} is not an integer"
                ) from None
            if n <= 0:
                raise ValueError(f"bad rate limit {part!r}: the count must be positive")
            limits.append(cls(n, float(_WINDOW_SECONDS[unit]), unit))
        if not limits:
            raise ValueError("empty rate limit: expected N/unit;N/unit (e.g. 30/minute)")
        return tuple(sorted(limits, key=lambda r: r.window))


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with ``Z``: the one timestamp format of every answer (contract)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
