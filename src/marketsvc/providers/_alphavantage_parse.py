"""Alpha Vantage wire format → domain models: every vendor field name lives here.

Alpha Vantage answers HTTP 200 to everything, errors included, and sends every value as a
string; ``classify_body`` turns its ``Error Message`` / ``Information`` / ``Note`` texts into typed
errors. Vendor text is only read, never copied into an error (the daily-quota text quotes the key).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marketsvc.domain import (
    Article,
    ArticleSentiment,
    AssetClass,
    Candle,
    Fundamentals,
    Quote,
    SymbolMatch,
)
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers._http import as_float, opt_float, require

NAME = "alphavantage"
NEW_YORK = ZoneInfo("America/New_York")

# Exchange suffixes (TSCO.LON) whose quotes are not in USD. UNVERIFIED beyond LON/TRT/BSE,
# which providers.md names; the rest follow the same convention.
_SUFFIX_CURRENCY = {
    "LON": "GBX",
    "TRT": "CAD",
    "TRV": "CAD",
    "DEX": "EUR",
    "FRK": "EUR",
    "PAR": "EUR",
    "AMS": "EUR",
    "BSE": "INR",
    "NSE": "INR",
    "SHH": "CNY",
    "SHZ": "CNY",
}
_SHARE_CLASS = re.compile(r"^([A-Z0-9]+)[.-]([A-C])$")


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadDataError(NAME, f"unexpected response shape: {what}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadDataError(NAME, f"unexpected response shape: {what}")
    return value


# --- errors inside HTTP 200 -------------------------------------------------------------
def seconds_to_utc_midnight(now: float) -> float:
    return math.floor(now / 86400 + 1) * 86400 - now


def _throttle_wait(lower: str, now: float) -> float:
    # The burst notice also mentions the daily quota, so the finest window named decides.
    if "per second" in lower or "spreading out" in lower or "burst" in lower:
        return 1.0
    if "per minute" in lower:
        return 60.0
    if "per day" in lower or "daily" in lower:
        return seconds_to_utc_midnight(now)
    return 60.0


def classify_message(key: str, text: str, now: float, symbol: str | None) -> ProviderError:
    """The typed error for one ``Error Message`` / ``Information`` / ``Note`` text."""
    lower = text.lower()
    if any(w in lower for w in ("rate limit", "call frequency", "spreading out", "burst pattern")):
        return RateLimitedError(NAME, "free-tier limit reached", _throttle_wait(lower, now))
    if "apikey" in lower or "api key" in lower or "**demo**" in lower:
        return ProviderAuthError(NAME, "API key missing, invalid or demo-only")
    if "premium" in lower:
        return ProviderAuthError(NAME, "premium endpoint or parameter (not in the free plan)")
    if key == "Error Message" and "invalid api call" in lower and symbol is not None:
        # The vendor says the same thing for an unknown symbol and for a malformed call; our
        # calls are well-formed, so with a symbol in the request it is the symbol.
        return SymbolNotFoundError(NAME, symbol)
    if "invalid inputs" in lower and symbol is not None:  # NEWS_SENTIMENT, UNVERIFIED wording
        return SymbolNotFoundError(NAME, symbol)
    return BadDataError(NAME, f"vendor rejected the call ({key})")


def classify_body(body: Any, now: float, symbol: str | None) -> dict[str, Any]:
    """Raise the typed error an HTTP-200 body carries; return the body when it is data."""
    result = _obj(body, "top level is not an object")
    for key in ("Error Message", "Information", "Note"):
        text = result.get(key)
        if isinstance(text, str):
            raise classify_message(key, text, now, symbol)
    return result


# --- symbols --------------------------------------------------------------------------
def share_class_symbol(symbol: str) -> str | None:
    """``BRK.B`` → ``BRK-B`` (Alpha Vantage's form, UNVERIFIED); None if not a share class."""
    m = _SHARE_CLASS.fullmatch(symbol.upper())
    return f"{m.group(1)}-{m.group(2)}" if m else None


def canonical_symbol(vendor_symbol: str) -> str:
    m = _SHARE_CLASS.fullmatch(vendor_symbol.upper())
    return f"{m.group(1)}.{m.group(2)}" if m else vendor_symbol.upper()


def stock_currency(vendor_symbol: str) -> str:
    _, dot, suffix = vendor_symbol.rpartition(".")
    return _SUFFIX_CURRENCY.get(suffix.upper(), "USD") if dot else "USD"


# --- quotes ---------------------------------------------------------------------------
def _pct(value: Any) -> float | None:
    return opt_float(value.rstrip("%")) if isinstance(value, str) else opt_float(value)


def parse_global_quote(body: Mapping[str, Any], symbol: str, vendor: str, received: float) -> Quote:
    gq = _obj(body.get("Global Quote"), "Global Quote")
    if not gq:  # the vendor's "unknown symbol": an empty object
        raise SymbolNotFoundError(NAME, symbol)
    try:
        day = date.fromisoformat(str(gq.get("07. latest trading day")))
    except ValueError:
        raise BadDataError(NAME, "unexpected response shape: latest trading day") from None
    # Only the trading day is given: the quote is as of now during that day's session, else
    # as of its 16:00 New York close.
    close = datetime.combine(day, time(16, 0), tzinfo=NEW_YORK).astimezone(UTC)
    return Quote(
        symbol=symbol,
        price=as_float(NAME, gq.get("05. price"), "05. price"),
        change=opt_float(gq.get("09. change")),
        change_percent=_pct(gq.get("10. change percent")),
        timestamp=min(datetime.fromtimestamp(received, tz=UTC), close),
        currency=stock_currency(vendor),
        asset_class=AssetClass.STOCK,
        source=NAME,
        volume=opt_float(gq.get("06. volume")),
        open=opt_float(gq.get("02. open")),
        high=opt_float(gq.get("03. high")),
        low=opt_float(gq.get("04. low")),
        previous_close=opt_float(gq.get("08. previous close")),
    )


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return NEW_YORK


def _local_time(text: str, zone: ZoneInfo) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
        return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        raise BadDataError(NAME, "unexpected response shape: timestamp") from None


def parse_exchange_rate(body: Mapping[str, Any], symbol: str) -> Quote:
    rate = _obj(body.get("Realtime Currency Exchange Rate"), "Realtime Currency Exchange Rate")
    zone = _zone(rate.get("7. Time Zone", "UTC"))
    return Quote(
        symbol=symbol,
        price=as_float(NAME, rate.get("5. Exchange Rate"), "5. Exchange Rate"),
        change=None,
        change_percent=None,
        timestamp=_local_time(str(rate.get("6. Last Refreshed")), zone),
        currency=str(rate.get("3. To_Currency Code") or "USD"),
        asset_class=AssetClass.CRYPTO,
        source=NAME,
    )


# --- history --------------------------------------------------------------------------
def _field(row: Mapping[str, Any], n: int, name: str) -> Any:
    # Current digital-currency answers use "1. open"; older ones "1a. open (USD)" (and
    # "1b. open (USD)" next to a market-currency column). Stocks use "1. open".
    for key in (f"{n}. {name}", f"{n}b. {name} (USD)", f"{n}a. {name} (USD)"):
        if key in row:
            return row[key]
    return None


def parse_series(body: Mapping[str, Any], *, weekly: bool) -> list[Candle]:
    """Any ``...Time Series...`` object → candles, oldest first, ``ts`` = bar start in UTC.

    Date keys become 00:00 UTC of that date; weekly keys (the week's last trading day)
    become the Monday of that week; intraday keys are local to the meta ``Time Zone``.
    """
    series_key = next((k for k in body if "time series" in k.lower()), None)
    require(NAME, series_key is not None, "no time series")
    series = _obj(body[str(series_key)], "time series")
    meta = body.get("Meta Data")
    zone_name = "US/Eastern"
    if isinstance(meta, dict):
        zone_name = next((v for k, v in meta.items() if k.endswith("Time Zone")), zone_name)
    zone = _zone(zone_name)
    candles: list[Candle] = []
    for stamp, value in series.items():
        row = _obj(value, "bar")
        ts = _local_time(str(stamp), zone)
        if weekly:
            ts -= timedelta(days=ts.weekday())
        candles.append(
            Candle(
                ts=ts,
                open=as_float(NAME, _field(row, 1, "open"), "open"),
                high=as_float(NAME, _field(row, 2, "high"), "high"),
                low=as_float(NAME, _field(row, 3, "low"), "low"),
                close=as_float(NAME, _field(row, 4, "close"), "close"),
                volume=opt_float(_field(row, 5, "volume")),
            )
        )
    candles.sort(key=lambda c: c.ts)
    return candles


# --- news, fundamentals, search ---------------------------------------------------------
def _news_ticker(value: Any) -> str | None:
    text = str(value)
    if text.startswith("FOREX:"):
        return None
    return text.removeprefix("CRYPTO:") or None


def parse_news(body: Mapping[str, Any]) -> list[Article]:
    feed = _list(body.get("feed"), "feed")
    out: list[Article] = []
    for item in feed:
        if not isinstance(item, dict) or not item.get("url") or not item.get("title"):
            continue
        try:
            # "20240101T120000" (sometimes without seconds); the zone is not documented and
            # is read as UTC. UNVERIFIED.
            raw = str(item.get("time_published"))
            fmt = "%Y%m%dT%H%M%S" if len(raw) == 15 else "%Y%m%dT%H%M"
            published = datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        sentiment = item.get("ticker_sentiment")
        tickers = tuple(
            t
            for t in (
                _news_ticker(s.get("ticker"))
                for s in (sentiment if isinstance(sentiment, list) else [])
                if isinstance(s, dict)
            )
            if t
        )
        out.append(
            Article(
                title=str(item["title"]),
                url=str(item["url"]),
                published_at=published,
                provider=NAME,
                source_name=item.get("source") or None,
                summary=item.get("summary") or None,
                image_url=item.get("banner_image") or None,
                tickers=tickers,
                sentiment=_sentiment(item, sentiment),
            )
        )
    out.sort(key=lambda a: a.published_at, reverse=True)
    return out


def _sentiment(item: Mapping[str, Any], per_ticker: Any) -> ArticleSentiment | None:
    """NEWS_SENTIMENT's own score: ``overall_sentiment_score`` (its "Neutral" band is
    -0.15 < x < 0.15) and ``ticker_sentiment_score`` per ticker."""
    score = opt_float(item.get("overall_sentiment_score"))
    if score is None:
        return None
    tickers: list[tuple[str, float]] = []
    for s in per_ticker if isinstance(per_ticker, list) else []:
        if not isinstance(s, dict):
            continue
        ticker = _news_ticker(s.get("ticker"))
        value = opt_float(s.get("ticker_sentiment_score"))
        if ticker and value is not None:
            tickers.append((ticker, value))
    label = "positive" if score >= 0.15 else "negative" if score <= -0.15 else "neutral"
    provider_label = item.get("overall_sentiment_label")
    return ArticleSentiment(
        score,
        label,
        NAME,
        str(provider_label) if provider_label else None,
        tuple(tickers),
    )


def _text(value: Any) -> str | None:
    return None if value in (None, "", "None", "-") else str(value)


_OVERVIEW_EXTRA = (
    "AssetType",
    "CIK",
    "FiscalYearEnd",
    "LatestQuarter",
    "EBITDA",
    "PEGRatio",
    "BookValue",
    "DividendPerShare",
    "ProfitMargin",
    "RevenueTTM",
    "AnalystTargetPrice",
    "ForwardPE",
    "PriceToBookRatio",
    "50DayMovingAverage",
    "200DayMovingAverage",
)


def parse_overview(body: Mapping[str, Any], symbol: str) -> Fundamentals:
    if not body.get("Symbol"):  # OVERVIEW answers {} for a symbol it does not know
        raise SymbolNotFoundError(NAME, symbol)
    employees = opt_float(body.get("FullTimeEmployees"))
    return Fundamentals(
        symbol=symbol,
        source=NAME,
        name=_text(body.get("Name")),
        description=_text(body.get("Description")),
        exchange=_text(body.get("Exchange")),
        currency=_text(body.get("Currency")),
        country=_text(body.get("Country")),
        sector=_text(body.get("Sector")),
        industry=_text(body.get("Industry")),
        website=_text(body.get("OfficialSite")),
        employees=int(employees) if employees is not None else None,
        market_cap=opt_float(body.get("MarketCapitalization")),
        shares_outstanding=opt_float(body.get("SharesOutstanding")),
        pe_ratio=opt_float(body.get("PERatio")),
        eps=opt_float(body.get("EPS")),
        dividend_yield=opt_float(body.get("DividendYield")),
        beta=opt_float(body.get("Beta")),
        week52_high=opt_float(body.get("52WeekHigh")),
        week52_low=opt_float(body.get("52WeekLow")),
        extra={k: _text(body.get(k)) for k in _OVERVIEW_EXTRA if _text(body.get(k)) is not None},
    )


def parse_search(body: Mapping[str, Any]) -> list[SymbolMatch]:
    matches = _list(body.get("bestMatches"), "bestMatches")
    out: list[SymbolMatch] = []
    for m in matches:
        if not isinstance(m, dict) or not m.get("1. symbol"):
            continue
        vendor = str(m["1. symbol"])
        out.append(
            SymbolMatch(
                symbol=canonical_symbol(vendor),
                name=str(m.get("2. name") or vendor),
                asset_class=AssetClass.STOCK,
                provider_symbol=vendor,
                source=NAME,
            )
        )
    return out
