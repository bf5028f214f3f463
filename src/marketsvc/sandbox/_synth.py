"""Deterministic synthetic market data for the upstream emulator.

Every value is a pure function of (symbol, time), so all emulated providers agree on a price at
a given minute (cross-provider validation sees "agreed" unless a fault says otherwise) and a
test can compute the expected answer. Everything here is SYNTHETIC and labelled so: company
names end in "(synthetic)", article titles start with "[synthetic]".
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from marketsvc.sandbox import _universe

SYNTHETIC = "(synthetic)"

# Base price levels chosen to look plausible; the walk around them is synthetic.
_CRYPTO_BASE: dict[str, float] = {
    "BTC": 65000.0,
    "ETH": 3200.0,
    "USDT": 1.0,
    "USDC": 1.0,
    "BNB": 580.0,
    "SOL": 150.0,
    "XRP": 0.55,
    "ADA": 0.45,
    "DOGE": 0.15,
    "TRX": 0.12,
    "AVAX": 35.0,
    "DOT": 7.0,
    "LINK": 15.0,
    "MATIC": 0.7,
    "POL": 0.5,
    "LTC": 80.0,
    "BCH": 450.0,
    "SHIB": 0.00002,
    "UNI": 9.0,
    "XLM": 0.11,
    "ATOM": 8.0,
    "XMR": 160.0,
    "ETC": 27.0,
    "FIL": 5.5,
    "APT": 9.0,
    "ARB": 1.0,
    "OP": 2.2,
    "NEAR": 6.0,
    "TON": 6.5,
    "SUI": 1.5,
}


@dataclass(frozen=True, slots=True)
class Company:
    symbol: str
    name: str
    base_price: float
    sector: str
    industry: str
    exchange: str
    employees: int
    shares: float


STOCKS: dict[str, Company] = {
    c.symbol: c
    for c in (
        Company(
            "AAPL",
            "Apple Inc.",
            190.0,
            "Technology",
            "Consumer Electronics",
            "NASDAQ",
            161000,
            15.3e9,
        ),
        Company(
            "MSFT",
            "Microsoft Corporation",
            420.0,
            "Technology",
            "Software",
            "NASDAQ",
            221000,
            7.43e9,
        ),
        Company(
            "GOOGL",
            "Alphabet Inc. Class A",
            170.0,
            "Communication Services",
            "Internet Content",
            "NASDAQ",
            182000,
            5.9e9,
        ),
        Company(
            "AMZN",
            "Amazon.com Inc.",
            185.0,
            "Consumer Cyclical",
            "Internet Retail",
            "NASDAQ",
            1525000,
            10.4e9,
        ),
        Company(
            "NVDA",
            "NVIDIA Corporation",
            120.0,
            "Technology",
            "Semiconductors",
            "NASDAQ",
            29600,
            24.5e9,
        ),
        Company(
            "META",
            "Meta Platforms Inc.",
            500.0,
            "Communication Services",
            "Internet Content",
            "NASDAQ",
            67300,
            2.53e9,
        ),
        Company(
            "TSLA",
            "Tesla Inc.",
            240.0,
            "Consumer Cyclical",
            "Auto Manufacturers",
            "NASDAQ",
            140000,
            3.19e9,
        ),
        Company(
            "BRK.B",
            "Berkshire Hathaway Inc. Class B",
            410.0,
            "Financial Services",
            "Insurance",
            "NYSE",
            396500,
            1.3e9,
        ),
        Company(
            "JPM",
            "JPMorgan Chase & Co.",
            200.0,
            "Financial Services",
            "Banks",
            "NYSE",
            309900,
            2.87e9,
        ),
        Company(
            "V", "Visa Inc.", 275.0, "Financial Services", "Credit Services", "NYSE", 28800, 1.6e9
        ),
        Company(
            "IBM",
            "International Business Machines",
            170.0,
            "Technology",
            "IT Services",
            "NYSE",
            288300,
            0.92e9,
        ),
        Company(
            "NFLX",
            "Netflix Inc.",
            650.0,
            "Communication Services",
            "Entertainment",
            "NASDAQ",
            13000,
            0.43e9,
        ),
        Company(
            "SPY",
            "SPDR S&P 500 ETF Trust",
            550.0,
            "Financial Services",
            "Exchange Traded Fund",
            "NYSE ARCA",
            0,
            0.9e9,
        ),
    )
}

# A long tail of synthetic tickers (SYN0000 … SYN4999), so workloads over thousands of
# symbols (the benchmark's Zipf over 5,000) have something to ask every provider about.
SYNTHETIC_TAIL = 5000
STOCKS.update(
    {
        f"SYN{i:04d}": Company(
            f"SYN{i:04d}",
            f"Synthetic Holdings {i:04d}",
            20.0 + (i * 7919) % 480,
            "Industrials",
            "Conglomerates",
            "NYSE",
            1000 + i,
            1e8 + i * 1e5,
        )
        for i in range(SYNTHETIC_TAIL)
    }
)


STOCKS.update(
    {
        ticker: Company(
            ticker,
            name,
            15.0 + (sum(map(ord, ticker)) * 7919) % 600,
            "Technology",
            "Software",
            "NASDAQ",
            5000 + len(name) * 100,
            5e8,
        )
        for ticker, name in _universe.stock_rows()
    }
)

# Every coin the emulated crypto venues list (top coins, real long tail, generated).
LISTED_COINS: list[_universe.ListedCoin] = _universe.coins(set(STOCKS))
COIN_SYMBOLS: frozenset[str] = frozenset(c.symbol for c in LISTED_COINS)


def _unit(symbol: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{symbol}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_crypto(symbol: str) -> bool:
    return symbol.upper() in COIN_SYMBOLS


def is_stock(symbol: str) -> bool:
    return symbol.upper() in STOCKS


def base_price(symbol: str) -> float:
    s = symbol.upper()
    if s in _CRYPTO_BASE:
        return _CRYPTO_BASE[s]
    if s in STOCKS:
        return STOCKS[s].base_price
    return 10.0 + 490.0 * _unit(s, "base")


def price_at(symbol: str, t: float) -> float:
    """The synthetic price of ``symbol`` at epoch second ``t`` (constant within a minute)."""
    s = symbol.upper()
    minute = math.floor(t / 60.0) * 60.0
    if s in ("USDT", "USDC"):
        return round(1.0 + 0.0005 * math.sin(minute / 3600.0), 6)
    p1, p2, p3 = (_unit(s, k) * 2 * math.pi for k in ("a", "b", "c"))
    weekly = 0.06 * math.sin(2 * math.pi * minute / (86400 * 9.3) + p1)
    daily = 0.015 * math.sin(2 * math.pi * minute / 86400 + p2)
    hourly = 0.004 * math.sin(2 * math.pi * minute / 3700 + p3)
    value = base_price(s) * (1.0 + weekly + daily + hourly)
    return round(value, 8 if value < 1 else 4)


@dataclass(frozen=True, slots=True)
class Bar:
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def bar(symbol: str, start: int, seconds: int) -> Bar:
    """The synthetic OHLCV bar of ``symbol`` starting at ``start`` and lasting ``seconds``."""
    o = price_at(symbol, start)
    c = price_at(symbol, start + seconds - 1)
    mid = price_at(symbol, start + seconds // 2)
    wiggle = 0.002 * (1 + _unit(f"{symbol}:{start}", "w"))
    high = round(max(o, c, mid) * (1 + wiggle), 8)
    low = round(min(o, c, mid) * (1 - wiggle), 8)
    vol_base = 1e6 if is_stock(symbol) else 1e4
    volume = round(vol_base * (seconds / 86400) ** 0.5 * (1 + _unit(f"{symbol}:{start}", "v")), 4)
    return Bar(start, o, high, low, c, volume)


def is_trading_day(ts: float) -> bool:
    """Weekdays (the emulator's simple calendar; holidays still trade here)."""
    return datetime.fromtimestamp(ts, tz=UTC).weekday() < 5


def bars(symbol: str, start: int, end: int, seconds: int, *, stock: bool) -> list[Bar]:
    """Bars with ``start <= bar.start < end`` aligned to ``seconds`` (UTC), oldest first.

    Stock bars exist only on weekdays; intraday stock bars only 14:30–21:00 UTC (the regular
    session in winter time, kept fixed for simplicity).
    """
    first = math.ceil(start / seconds) * seconds
    out: list[Bar] = []
    for t in range(first, end, seconds):
        if stock:
            if not is_trading_day(t):
                continue
            if seconds < 86400:
                tod = t % 86400
                if not (14 * 3600 + 1800 <= tod < 21 * 3600):
                    continue
        out.append(bar(symbol, t, seconds))
    return out


def previous_close(symbol: str, t: float) -> float:
    day_start = math.floor(t / 86400) * 86400
    return price_at(symbol, day_start - 60)


@dataclass(frozen=True, slots=True)
class SynthArticle:
    title: str
    url: str
    published: int
    summary: str
    source_name: str
    tickers: tuple[str, ...]


def articles(topic: str, t: float, count: int) -> list[SynthArticle]:
    """Hourly synthetic articles about ``topic``, newest first. URLs do not depend on the
    provider, so the same story served by two providers deduplicates by URL."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in topic.lower()).strip("-") or "markets"
    hour = math.floor(t / 3600) * 3600
    out = []
    for i in range(count):
        published = hour - i * 3600
        k = published // 3600
        out.append(
            SynthArticle(
                title=f"[synthetic] {topic} market note {k}",
                url=f"https://sandbox.marketsvc.invalid/news/{slug}/{k}",
                published=published,
                summary=f"Synthetic article about {topic} for testing; not real news.",
                source_name="Sandbox Wire (synthetic)",
                tickers=(topic.upper(),) if topic.isalnum() and len(topic) <= 6 else (),
            )
        )
    return out
