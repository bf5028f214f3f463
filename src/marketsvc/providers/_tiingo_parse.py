"""Tiingo wire format: request parameters, error quirks and every vendor field name mapped to
the domain models, in one place. Pure functions; the adapter is thin glue around them.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marketsvc.domain import (
    SYMBOL_PATTERN,
    Article,
    AssetClass,
    Candle,
    Fundamentals,
    Interval,
    Quote,
    SymbolMatch,
)
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers._common import parse_iso
from marketsvc.providers._http import Params, Response, as_float, opt_float, require

NAME = "tiingo"
IEX = "iex"
CRYPTO_TOP = "tiingo/crypto/top"
CRYPTO_PRICES = "tiingo/crypto/prices"
CRYPTO_META = "tiingo/crypto"
NEWS = "tiingo/news"
SEARCH = "tiingo/utilities/search"
HEALTH = "api/test"
INTRADAY_FREQ = {Interval.MINUTE: "1min", Interval.HOUR: "1hour"}
EOD_FREQ = {Interval.DAY: "daily", Interval.WEEK: "weekly"}
CRYPTO_FREQ = {Interval.MINUTE: "1min", Interval.HOUR: "1hour", Interval.DAY: "1day"}
# Phrases of Tiingo's plain-text quota messages ("You have run over your hourly request
# allocation...", "...your 500 symbol look up for this month..."), sent with HTTP 200 or 429.
# Tiingo runs on Django REST framework, whose throttle answer is "Request was throttled.
# Expected available in N seconds." (UNVERIFIED for Tiingo itself).
_QUOTA_PHRASES = (
    "run over your",
    "request allocation",
    "symbol look up",
    "have your limits",
    "request was throttled",
)
_AVAILABLE_IN = re.compile(r"available in (\d+(?:\.\d+)?) second")
_STOCK_TYPES = frozenset({"stock", "etf", "mutual fund"})


# --- symbols -------------------------------------------------------------------------------
def stock_ticker(symbol: str) -> str:
    """Share classes use a hyphen: ``BRK.B`` → ``brk-b``."""
    return symbol.lower().replace(".", "-")


def crypto_ticker(base: str) -> str:
    return f"{base.lower()}usd"


def canonical_stock(ticker: str) -> str:
    return ticker.upper().replace("-", ".")


# --- errors --------------------------------------------------------------------------------
def is_quota_message(text: str) -> bool:
    lowered = text.lower()
    return any(phrase in lowered for phrase in _QUOTA_PHRASES)


def quota_retry_after(text: str, now: float) -> float | None:
    """Seconds until the window named by a quota message rolls over. UNVERIFIED: Tiingo's
    windows are assumed to be clock-aligned (UTC hour, day, month)."""
    lowered = text.lower()
    moment = datetime.fromtimestamp(now, tz=UTC)
    if (found := _AVAILABLE_IN.search(lowered)) is not None:
        return float(found.group(1))
    if "hour" in lowered:
        return 3600.0 - now % 3600.0
    if "month" in lowered:
        year, month = (
            (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        )
        return datetime(year, month, 1, tzinfo=UTC).timestamp() - now
    if "day" in lowered or "daily" in lowered:
        return 86400.0 - now % 86400.0
    return None


def check(resp: Response, symbol: str | None = None) -> Any:
    """The JSON body of a successful answer, or the typed error for every known quirk.

    Vendor messages are never copied into errors (they carry pricing URLs).
    """
    payload = resp.json_or_none()
    detail = payload.get("detail") if isinstance(payload, dict) else None
    text = detail if isinstance(detail, str) else (resp.text if payload is None else "")
    if is_quota_message(text) or resp.status == 429:
        retry_after = resp.retry_after()
        if retry_after is None:
            retry_after = quota_retry_after(text, resp.received_at)
        raise RateLimitedError(NAME, f"HTTP {resp.status}: quota exhausted", retry_after)
    if resp.status in (401, 403):
        raise ProviderAuthError(NAME, f"HTTP {resp.status}: token missing/invalid or not in plan")
    if resp.status == 404 or (resp.status == 200 and "not found" in text.lower()):
        if symbol is not None:
            raise SymbolNotFoundError(NAME, symbol)
        raise BadDataError(NAME, f"HTTP {resp.status}: resource not found")
    resp.raise_for_status()
    if payload is None:
        raise BadDataError(NAME, f"HTTP {resp.status}: body is not JSON")
    if isinstance(detail, str):
        # DRF-style {"detail": "..."} in a 200 is an error we do not know; never data.
        raise BadDataError(NAME, f"HTTP {resp.status}: error object instead of data")
    return payload


# --- request parameters ----------------------------------------------------------------------
def _day(dt: datetime) -> str:
    aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def _dates(start: datetime, end: datetime) -> dict[str, str]:
    # Tiingo takes whole days with an inclusive end; the adapter trims to [start, end).
    return {"startDate": _day(start), "endDate": _day(end - timedelta(microseconds=1))}


def params_eod(interval: Interval, start: datetime, end: datetime) -> Params:
    return {**_dates(start, end), "resampleFreq": EOD_FREQ[interval], "format": "json"}


def params_intraday(interval: Interval, start: datetime, end: datetime) -> Params:
    # Volume is only sent when asked for through ``columns``.
    return {
        **_dates(start, end),
        "resampleFreq": INTRADAY_FREQ[interval],
        "columns": "open,high,low,close,volume",
    }


def params_crypto_prices(ticker: str, interval: Interval, start: datetime, end: datetime) -> Params:
    return {"tickers": ticker, **_dates(start, end), "resampleFreq": CRYPTO_FREQ[interval]}


def params_news(ticker: str | None, limit: int) -> Params:
    params: dict[str, str | int] = {"limit": max(1, min(limit, 1000)), "sortBy": "publishedDate"}
    if ticker is not None:
        params["tickers"] = ticker
    return params


# --- parsing ---------------------------------------------------------------------------------
def _rows(payload: Any, what: str) -> list[dict[str, Any]]:
    require(NAME, isinstance(payload, list), f"{what} is not a list")
    return [row for row in payload if isinstance(row, dict)]


def _time(value: Any, what: str) -> datetime:
    require(NAME, isinstance(value, str), f"{what} is not a time")
    try:
        return parse_iso(value)
    except ValueError:
        raise BadDataError(NAME, f"unexpected response shape: {what} is not a time") from None


def rows_by_ticker(payload: Any, what: str) -> dict[str, dict[str, Any]]:
    """Batch answers by lower-case ticker; unknown tickers are simply absent."""
    return {
        str(row["ticker"]).lower(): row
        for row in _rows(payload, what)
        if isinstance(row.get("ticker"), str)
    }


def parse_iex_quote(row: dict[str, Any], symbol: str) -> Quote:
    # Without an IEX exchange agreement ``last`` is null; ``tngoLast`` stays filled.
    price = opt_float(row.get("last"))
    if price is None:
        price = as_float(NAME, row.get("tngoLast"), "tngoLast")
    prev = opt_float(row.get("prevClose"))
    change = price - prev if prev else None
    return Quote(
        symbol=symbol,
        price=price,
        change=change,
        change_percent=change / prev * 100 if change is not None and prev else None,
        timestamp=_time(row.get("timestamp") or row.get("lastSaleTimestamp"), "timestamp"),
        currency="USD",
        asset_class=AssetClass.STOCK,
        source=NAME,
        volume=opt_float(row.get("volume")),
        open=opt_float(row.get("open")),
        high=opt_float(row.get("high")),
        low=opt_float(row.get("low")),
        previous_close=prev,
    )


def parse_crypto_top(row: dict[str, Any], symbol: str) -> Quote:
    books = row.get("topOfBookData")
    require(NAME, isinstance(books, list) and bool(books), "topOfBookData missing")
    book = books[0]  # type: ignore[index]
    require(NAME, isinstance(book, dict), "topOfBookData row is not an object")
    return Quote(
        symbol=symbol,
        price=as_float(NAME, book.get("lastPrice"), "lastPrice"),
        change=None,
        change_percent=None,
        timestamp=_time(book.get("lastSaleTimestamp") or book.get("quoteTimestamp"), "time"),
        currency="USD",
        asset_class=AssetClass.CRYPTO,
        source=NAME,
    )


def _candle(row: dict[str, Any]) -> Candle:
    return Candle(
        ts=_time(row.get("date"), "date"),
        open=as_float(NAME, row.get("open"), "open"),
        high=as_float(NAME, row.get("high"), "high"),
        low=as_float(NAME, row.get("low"), "low"),
        close=as_float(NAME, row.get("close"), "close"),
        volume=opt_float(row.get("volume")),
    )


def parse_bars(payload: Any) -> list[Candle]:
    """EOD and IEX intraday rows (``date`` is the bar start)."""
    return [_candle(row) for row in _rows(payload, "prices")]


def parse_crypto_bars(payload: Any, ticker: str) -> list[Candle]:
    for entry in _rows(payload, "crypto prices"):
        if str(entry.get("ticker", "")).lower() == ticker:
            data = entry.get("priceData")
            if not isinstance(data, list):
                raise BadDataError(NAME, "unexpected response shape: priceData is not a list")
            return [_candle(row) for row in data if isinstance(row, dict)]
    return []


def parse_news(payload: Any) -> list[Article]:
    articles: list[Article] = []
    for row in _rows(payload, "news"):
        title, url, published = row.get("title"), row.get("url"), row.get("publishedDate")
        if not (isinstance(title, str) and isinstance(url, str) and isinstance(published, str)):
            continue  # one incomplete story should not sink the page
        tickers = row.get("tickers")
        articles.append(
            Article(
                title=title,
                url=url,
                published_at=_time(published, "publishedDate"),
                provider=NAME,
                source_name=row.get("source"),
                summary=row.get("description") or None,
                tickers=tuple(str(t).upper() for t in tickers) if isinstance(tickers, list) else (),
            )
        )
    articles.sort(key=lambda a: a.published_at, reverse=True)
    return articles


def parse_meta(payload: Any, symbol: str) -> Fundamentals:
    require(NAME, isinstance(payload, dict), "metadata is not an object")
    extra = {k: payload[k] for k in ("startDate", "endDate", "ticker") if payload.get(k)}
    return Fundamentals(
        symbol=symbol,
        source=NAME,
        name=payload.get("name"),
        description=payload.get("description") or None,
        exchange=payload.get("exchangeCode"),
        currency="USD",
        extra=extra,
    )


def parse_search(payload: Any) -> list[SymbolMatch]:
    """UNVERIFIED beta endpoint: rows like ``{"ticker","name","assetType","isActive"}``."""
    matches: list[SymbolMatch] = []
    for row in _rows(payload, "search results"):
        ticker, kind = row.get("ticker"), str(row.get("assetType", "")).lower()
        if not isinstance(ticker, str) or row.get("isActive") is False:
            continue
        name = str(row.get("name") or ticker)
        if kind in _STOCK_TYPES:
            matches.append(
                SymbolMatch(canonical_stock(ticker), name, AssetClass.STOCK, ticker, NAME)
            )
        elif kind == "crypto" and ticker.lower().endswith("usd"):
            base = ticker[:-3].upper()
            matches.append(SymbolMatch(base, name, AssetClass.CRYPTO, ticker.lower(), NAME))
    return matches


def crypto_known(payload: Any, ticker: str) -> bool:
    return ticker in rows_by_ticker(payload, "crypto metadata")


def bars_in_range(candles: list[Candle], start: datetime, end: datetime, cap: int) -> list[Candle]:
    kept = {c.ts: c for c in candles if start <= c.ts < end}
    return sorted(kept.values(), key=lambda c: c.ts)[:cap]


# --- the symbol list ---------------------------------------------------------------------------
# The list is a static file on Tiingo's media host (no key): a zip with one CSV whose columns
# are ticker, exchange, assetType, priceCurrency, startDate, endDate. It lists every ticker
# Tiingo ever carried (delisted ones, Chinese exchanges, mutual funds), and no names.
SUPPORTED_TICKERS_URL = "https://apimedia.tiingo.com/docs/tiingo/daily/supported_tickers.zip"
SUPPORTED_TICKERS_PATH = "docs/tiingo/daily/supported_tickers.zip"
US_EXCHANGES = frozenset({"NYSE", "NASDAQ", "NYSE ARCA", "NYSE MKT", "AMEX", "BATS", "ARCA"})
_LISTED_TYPES = frozenset({"stock", "etf"})
# A ticker still trades if its last price is this close to the newest one in the file.
_STILL_LISTED_DAYS = 14
_MAX_CSV_BYTES = 64_000_000  # the real CSV is ~6 MB; refuse a zip bomb


def _csv_text(blob: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".csv")]
            require(NAME, len(members) == 1, "one CSV in supported_tickers.zip")
            require(NAME, members[0].file_size <= _MAX_CSV_BYTES, "CSV size")
            with archive.open(members[0]) as fh:
                data = fh.read(_MAX_CSV_BYTES + 1)
    except zipfile.BadZipFile as exc:
        raise BadDataError(NAME, "supported_tickers.zip is not a zip file") from exc
    require(NAME, len(data) <= _MAX_CSV_BYTES, "CSV size")
    return data.decode("utf-8", errors="replace")


def _day_or_none(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def parse_supported_tickers(blob: bytes) -> list[SymbolMatch]:
    """US stocks and ETFs priced in USD that still trade (see ``_STILL_LISTED_DAYS``)."""
    reader = csv.DictReader(io.StringIO(_csv_text(blob)))
    required = {"ticker", "exchange", "assetType", "priceCurrency", "endDate"}
    require(NAME, required <= set(reader.fieldnames or ()), "supported_tickers columns")
    rows: list[tuple[str, date]] = []
    for row in reader:
        end = _day_or_none(row.get("endDate"))
        if (
            end is None
            or (row.get("priceCurrency") or "").upper() != "USD"
            or (row.get("exchange") or "").upper() not in US_EXCHANGES
            or (row.get("assetType") or "").lower() not in _LISTED_TYPES
        ):
            continue
        rows.append((row.get("ticker") or "", end))
    newest = max((end for _, end in rows), default=None)
    out: dict[str, SymbolMatch] = {}
    for ticker, end in rows:
        symbol = canonical_stock(ticker)
        if newest is None or (newest - end).days > _STILL_LISTED_DAYS:
            continue
        if SYMBOL_PATTERN.fullmatch(symbol) and symbol not in out:
            out[symbol] = SymbolMatch(symbol, symbol, AssetClass.STOCK, ticker.lower(), NAME)
    return list(out.values())
