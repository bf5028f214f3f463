"""Yahoo Finance wire format → domain models: every vendor field name lives here.

Yahoo is unofficial and keyless. Errors come as ``{"<envelope>":{"result":null,"error":{...}}}``
(``chart``, ``quoteResponse``, ``quoteSummary``, ``finance``), throttling as a plain-text 429, and
an outage as an HTML page; ``check_response`` maps all of them once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from marketsvc.domain import Article, AssetClass, Candle, Fundamentals, Interval, Quote, SymbolMatch
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers._common import utc_from_seconds
from marketsvc.providers._http import Response, as_float, opt_float, require
from marketsvc.symbols import TOP_COINS

NAME = "yahoo"
# Yahoo sends no Retry-After; back off a minute rather than hammer an unofficial endpoint.
DEFAULT_BACKOFF = 60.0
CHART_INTERVALS = {
    Interval.MINUTE: "1m",
    Interval.HOUR: "60m",
    Interval.DAY: "1d",
    Interval.WEEK: "1wk",
}
# Coins whose plain ticker is taken on Yahoo carry their CoinMarketCap id (UNI7083-USD).
# UNVERIFIED beyond UNI/SUI/APT/POL, which several independent projects use.
CMC_SUFFIXED = frozenset({"UNI", "SUI", "APT", "POL", "ARB", "TON"})
_SHARE_CLASS = re.compile(r"^([A-Z0-9]+)[.-]([A-C])$")
_CRYPTO_PAIR = re.compile(r"^([A-Z0-9]+?)(\d{4,})?-USD$")
_ERROR_CODE = re.compile(r"^[A-Za-z ]{1,40}$")


# --- symbols --------------------------------------------------------------------------
def crypto_symbol(symbol: str) -> str | None:
    """Built-in table: ``BTC`` → ``BTC-USD``; None when the coin is not in the table."""
    coin = TOP_COINS.get(symbol.upper())
    if coin is None:
        return None
    return (
        f"{coin.symbol}{coin.cmc_id}-USD" if coin.symbol in CMC_SUFFIXED else f"{coin.symbol}-USD"
    )


def stock_symbol(symbol: str) -> str:
    """``BRK.B`` → ``BRK-B``; exchange suffixes (``TSCO.L``, ``7203.T``) stay as they are."""
    m = _SHARE_CLASS.fullmatch(symbol.upper())
    return f"{m.group(1)}-{m.group(2)}" if m else symbol.upper()


def canonical(vendor: str, quote_type: str) -> tuple[str, AssetClass] | None:
    """Yahoo symbol → (canonical symbol, asset class); None for what we do not serve."""
    if quote_type == "CRYPTOCURRENCY":
        m = _CRYPTO_PAIR.fullmatch(vendor.upper())
        return (m.group(1), AssetClass.CRYPTO) if m else None
    if quote_type in ("EQUITY", "ETF", "MUTUALFUND"):
        m = _SHARE_CLASS.fullmatch(vendor.upper())
        return (f"{m.group(1)}.{m.group(2)}" if m else vendor.upper(), AssetClass.STOCK)
    return None


def canonical_guess(vendor: str) -> str:
    """A Yahoo symbol without its quote type (news tickers): best-effort canonical form."""
    m = _CRYPTO_PAIR.fullmatch(vendor.upper())
    if m:
        return m.group(1)
    m = _SHARE_CLASS.fullmatch(vendor.upper())
    return f"{m.group(1)}.{m.group(2)}" if m else vendor.upper()


# --- response checks --------------------------------------------------------------------
def _is_outage_page(text: str) -> bool:
    lower = text[:4000].lower()
    return "<html" in lower and ("will be right back" in lower or "unavailable" in lower)


def check_response(
    resp: Response, envelope: str | None, symbol: str | None = None
) -> dict[str, Any]:
    """Map every failure shape of one answer to a typed error; return the JSON object.

    ``envelope`` is the object that wraps result/error (``chart``...); None for search.
    """
    text = resp.text
    if resp.status == 429 or "too many requests" in text[:200].lower():
        retry_after = resp.retry_after()
        raise RateLimitedError(NAME, "HTTP 429: too many requests", retry_after or DEFAULT_BACKOFF)
    body = resp.json_or_none()
    if not isinstance(body, dict):
        if resp.status >= 500 or _is_outage_page(text):
            raise ProviderUnavailableError(
                NAME, f"HTTP {resp.status}: outage page", reason="http_5xx"
            )
        resp.raise_for_status()
        raise BadDataError(NAME, f"HTTP {resp.status}: body is not a JSON object")
    inner = body.get(envelope) if envelope else None
    wrapper = inner if isinstance(inner, dict) else body.get("finance")
    error = wrapper.get("error") if isinstance(wrapper, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        if code == "Not Found" and symbol is not None:
            raise SymbolNotFoundError(NAME, symbol)
        if code == "Unauthorized" or resp.status == 401:
            raise ProviderAuthError(NAME, "HTTP 401: crumb or cookie rejected")
        if resp.status >= 500:
            raise ProviderUnavailableError(NAME, f"HTTP {resp.status}", reason="http_5xx")
        shown = code if _ERROR_CODE.fullmatch(code) else "unknown"
        raise BadDataError(NAME, f"HTTP {resp.status}: vendor error {shown}")
    resp.raise_for_status()
    require(NAME, resp.status == 200, f"HTTP {resp.status}")
    require(NAME, envelope is None or isinstance(inner, dict), str(envelope))
    return body


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadDataError(NAME, f"unexpected response shape: {what}")
    return value


def _first_result(body: Mapping[str, Any], envelope: str) -> dict[str, Any]:
    result = _list(body[envelope].get("result"), f"{envelope}.result")
    require(NAME, bool(result) and isinstance(result[0], dict), f"{envelope}.result[0]")
    first: dict[str, Any] = result[0]
    return first


# --- quotes ---------------------------------------------------------------------------
def _chart_result(body: Mapping[str, Any]) -> dict[str, Any]:
    first = _first_result(body, "chart")
    require(NAME, isinstance(first.get("meta"), dict), "chart.result.meta")
    return first


def parse_chart_quote(body: Mapping[str, Any], symbol: str, asset_class: AssetClass) -> Quote:
    meta = _chart_result(body)["meta"]
    price = as_float(NAME, meta.get("regularMarketPrice"), "regularMarketPrice")
    prev = opt_float(meta.get("previousClose")) or opt_float(meta.get("chartPreviousClose"))
    change = price - prev if prev else None
    return Quote(
        symbol=symbol,
        price=price,
        change=change,
        change_percent=change / prev * 100 if change is not None and prev else None,
        timestamp=utc_from_seconds(
            as_float(NAME, meta.get("regularMarketTime"), "regularMarketTime")
        ),
        currency=str(meta.get("currency") or "USD"),
        asset_class=asset_class,
        source=NAME,
        volume=opt_float(meta.get("regularMarketVolume")),
        high=opt_float(meta.get("regularMarketDayHigh")),
        low=opt_float(meta.get("regularMarketDayLow")),
        previous_close=prev,
    )


def parse_quote_rows(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``/v7/finance/quote`` rows by Yahoo symbol; symbols Yahoo does not know are absent."""
    result = _list(body["quoteResponse"].get("result"), "quoteResponse.result")
    return {str(r["symbol"]): r for r in result if isinstance(r, dict) and r.get("symbol")}


def parse_quote_row(row: Mapping[str, Any], symbol: str, asset_class: AssetClass) -> Quote:
    if row.get("regularMarketPrice") is None:  # a bare row for a symbol without data
        raise SymbolNotFoundError(NAME, symbol)
    return Quote(
        symbol=symbol,
        price=as_float(NAME, row.get("regularMarketPrice"), "regularMarketPrice"),
        change=opt_float(row.get("regularMarketChange")),
        change_percent=opt_float(row.get("regularMarketChangePercent")),  # already in %
        timestamp=utc_from_seconds(
            as_float(NAME, row.get("regularMarketTime"), "regularMarketTime")
        ),
        currency=str(row.get("currency") or "USD"),
        asset_class=asset_class,
        source=NAME,
        volume=opt_float(row.get("regularMarketVolume")),
        market_cap=opt_float(row.get("marketCap")),
        open=opt_float(row.get("regularMarketOpen")),
        high=opt_float(row.get("regularMarketDayHigh")),
        low=opt_float(row.get("regularMarketDayLow")),
        previous_close=opt_float(row.get("regularMarketPreviousClose")),
    )


# --- history --------------------------------------------------------------------------
def parse_chart_bars(body: Mapping[str, Any], interval: Interval) -> list[Candle]:
    """Chart arrays → candles, oldest first; bars with a null price are skipped.

    Day and week bars are stamped at the session open in exchange time (14:30 UTC for New
    York); they are re-stamped 00:00 UTC of their exchange-local date (week: its Monday) so
    a daily bar means the same instant for every provider.
    """
    result = _chart_result(body)
    stamps = _list(result.get("timestamp") or [], "chart.timestamp")
    quote = _list((result.get("indicators") or {}).get("quote") or [{}], "chart.indicators")
    q = quote[0] if quote and isinstance(quote[0], dict) else {}
    columns = [q.get(k) or [None] * len(stamps) for k in ("open", "high", "low", "close", "volume")]
    require(
        NAME,
        all(isinstance(c, list) and len(c) == len(stamps) for c in columns),
        "chart array lengths",
    )
    offset = int(opt_float(result["meta"].get("gmtoffset")) or 0)
    out: list[Candle] = []
    for i, stamp in enumerate(stamps):
        o, h, low, c, v = (col[i] for col in columns)
        if o is None or h is None or low is None or c is None:
            continue
        ts = utc_from_seconds(as_float(NAME, stamp, "timestamp"))
        if interval in (Interval.DAY, Interval.WEEK):
            local = (ts + timedelta(seconds=offset)).date()
            if interval is Interval.WEEK:
                local -= timedelta(days=local.weekday())
            ts = datetime(local.year, local.month, local.day, tzinfo=UTC)
        out.append(
            Candle(
                ts=ts,
                open=as_float(NAME, o, "open"),
                high=as_float(NAME, h, "high"),
                low=as_float(NAME, low, "low"),
                close=as_float(NAME, c, "close"),
                volume=opt_float(v),
            )
        )
    out.sort(key=lambda candle: candle.ts)
    return out


# --- fundamentals, search, news ---------------------------------------------------------
def _raw(value: Any) -> Any:
    # formatted=false gives raw numbers; tolerate the {"raw":..,"fmt":..} form and {} (missing).
    if isinstance(value, dict):
        return value.get("raw")
    return value


def parse_summary(body: Mapping[str, Any], symbol: str) -> Fundamentals:
    mods = _first_result(body, "quoteSummary")
    profile = mods.get("assetProfile") or {}
    detail = mods.get("summaryDetail") or {}
    price = mods.get("price") or {}
    stats = mods.get("defaultKeyStatistics") or {}

    def num(section: Mapping[str, Any], key: str) -> float | None:
        return opt_float(_raw(section.get(key)))

    def text(section: Mapping[str, Any], key: str) -> str | None:
        value = _raw(section.get(key))
        return str(value) if value not in (None, "") else None

    employees = num(profile, "fullTimeEmployees")
    return Fundamentals(
        symbol=symbol,
        source=NAME,
        name=text(price, "longName") or text(price, "shortName"),
        description=text(profile, "longBusinessSummary"),
        exchange=text(price, "exchangeName"),
        currency=text(price, "currency") or text(detail, "currency"),
        country=text(profile, "country"),
        sector=text(profile, "sector"),
        industry=text(profile, "industry"),
        website=text(profile, "website"),
        employees=int(employees) if employees is not None else None,
        market_cap=num(detail, "marketCap") or num(price, "marketCap"),
        shares_outstanding=num(stats, "sharesOutstanding"),
        pe_ratio=num(detail, "trailingPE"),
        eps=num(stats, "trailingEps"),
        dividend_yield=num(detail, "dividendYield"),
        beta=num(detail, "beta"),
        week52_high=num(detail, "fiftyTwoWeekHigh"),
        week52_low=num(detail, "fiftyTwoWeekLow"),
        extra={
            k: v
            for k, v in (
                ("forward_pe", num(detail, "forwardPE")),
                ("quote_type", text(price, "quoteType")),
                ("average_volume", num(detail, "averageVolume")),
            )
            if v is not None
        },
    )


def parse_search(body: Mapping[str, Any]) -> list[SymbolMatch]:
    quotes = _list(body.get("quotes"), "quotes")
    out: list[SymbolMatch] = []
    for q in quotes:
        if not isinstance(q, dict) or not q.get("symbol"):  # yfinance drops these too
            continue
        mapped = canonical(str(q["symbol"]), str(q.get("quoteType") or ""))
        if mapped is None:
            continue
        name = q.get("longname") or q.get("shortname") or q["symbol"]
        out.append(SymbolMatch(mapped[0], str(name), mapped[1], str(q["symbol"]), NAME))
    return out


def parse_news(body: Mapping[str, Any]) -> list[Article]:
    news = _list(body.get("news"), "news")
    out: list[Article] = []
    for n in news:
        if not isinstance(n, dict) or not n.get("link") or not n.get("title"):
            continue
        published = opt_float(n.get("providerPublishTime"))
        if published is None:
            continue
        resolutions = (n.get("thumbnail") or {}).get("resolutions") or []
        image = (
            resolutions[0].get("url") if resolutions and isinstance(resolutions[0], dict) else None
        )
        related = n.get("relatedTickers")
        out.append(
            Article(
                title=str(n["title"]),
                url=str(n["link"]),
                published_at=utc_from_seconds(published),
                provider=NAME,
                source_name=n.get("publisher") or None,
                image_url=image,
                tickers=tuple(canonical_guess(str(t)) for t in related)
                if isinstance(related, list)
                else (),
            )
        )
    out.sort(key=lambda a: a.published_at, reverse=True)
    return out
