"""Finnhub wire format → domain models, in one place (pure functions, no I/O).

Shapes follow shared/reference/providers.md section 4: numbers are JSON numbers, times are Unix
seconds, candles are parallel arrays with ``s``, errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
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
from marketsvc.providers._common import utc_from_seconds
from marketsvc.providers._http import Response, as_float, opt_float, require

NAME = "finnhub"

RESOLUTIONS: dict[Interval, str] = {
    Interval.MINUTE: "1",
    Interval.HOUR: "60",
    Interval.DAY: "D",
    Interval.WEEK: "W",
}
NEWS_CATEGORIES = frozenset({"general", "forex", "crypto", "merger"})
# Finnhub's free plan allows news for North American companies over recent dates; a week of
# company news is plenty for "latest articles" and keeps the answer small.
COMPANY_NEWS_DAYS = 7


# Errors ------------------------------------------------------------------------------------
def _error_text(resp: Response, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    if body is None:
        return resp.text[:200]  # in 2020 Finnhub sometimes answered plain text
    return ""


def _retry_after(resp: Response) -> float | None:
    """Retry-After if sent; else Finnhub's X-Ratelimit-Reset (epoch seconds, UNVERIFIED name)."""
    seconds = resp.retry_after()
    if seconds is not None:
        return seconds
    reset = opt_float(resp.headers.get("x-ratelimit-reset"))
    if reset is None:
        return None
    return max(0.0, reset - resp.received_at)


def checked_json(resp: Response) -> Any:
    """Map Finnhub's error answers to typed errors and return the decoded body.

    Messages are fixed strings: vendor text is only inspected, never copied into an error.
    """
    body = resp.json_or_none()
    text = _error_text(resp, body).lower()
    if resp.status == 429 or "api limit reached" in text:
        if "sign up" in text:
            # Finnhub's answer to an empty or missing token (finnhubio in Finnhub-API#122).
            raise ProviderAuthError(NAME, "no API key sent (Finnhub asks to sign up)")
        raise RateLimitedError(
            NAME, f"HTTP {resp.status}: API limit reached", retry_after=_retry_after(resp)
        )
    if resp.status in (401, 403) or "access to this resource" in text:
        raise ProviderAuthError(NAME, f"HTTP {resp.status}: key invalid or endpoint not in plan")
    if "invalid api key" in text:
        raise ProviderAuthError(NAME, "key invalid")
    resp.raise_for_status()
    if body is None:
        raise BadDataError(NAME, f"HTTP {resp.status}: body is not JSON")
    if isinstance(body, dict) and "error" in body:
        raise BadDataError(NAME, "error answer inside HTTP 200")
    return body


# Quote -------------------------------------------------------------------------------------
def parse_quote(body: Any, symbol: str, asset_class: AssetClass, now: datetime) -> Quote:
    require(NAME, isinstance(body, dict) and "c" in body, "quote object with 'c'")
    price = as_float(NAME, body["c"], "c")
    if price <= 0.0:
        # Unknown symbols come back as all zeros with d/dp null (providers.md 4.3).
        raise SymbolNotFoundError(NAME, symbol)
    ts = opt_float(body.get("t"))
    return Quote(
        symbol=symbol,
        price=price,
        change=opt_float(body.get("d")),
        change_percent=opt_float(body.get("dp")),
        timestamp=utc_from_seconds(ts) if ts else now,
        # /quote carries no currency; US listings and USD(T) crypto pairs are what we map to.
        currency="USD",
        asset_class=asset_class,
        source=NAME,
        open=opt_float(body.get("o")) or None,
        high=opt_float(body.get("h")) or None,
        low=opt_float(body.get("l")) or None,
        previous_close=opt_float(body.get("pc")) or None,
    )


# History -----------------------------------------------------------------------------------
def params_candles(symbol: str, interval: Interval, start: int, end: int) -> dict[str, str | int]:
    """``from``/``to`` are inclusive Unix seconds; ``end`` is exclusive, hence ``end - 1``."""
    return {"symbol": symbol, "resolution": RESOLUTIONS[interval], "from": start, "to": end - 1}


def parse_candles(body: Any, start: int, end: int, limit: int) -> list[Candle]:
    require(NAME, isinstance(body, dict) and "s" in body, "candle object with 's'")
    if body["s"] == "no_data":
        return []
    require(NAME, body["s"] == "ok", "candle status 'ok' or 'no_data'")
    cols = [body.get(k) for k in ("t", "o", "h", "l", "c")]
    require(NAME, all(isinstance(col, list) for col in cols), "candle arrays t,o,h,l,c")
    ts, opens, highs, lows, closes = (list(col) for col in cols if isinstance(col, list))
    volumes = body.get("v") if isinstance(body.get("v"), list) else [None] * len(ts)
    require(
        NAME,
        all(len(col) == len(ts) for col in (opens, highs, lows, closes, volumes)),
        "candle arrays of equal length",
    )
    out: list[Candle] = []
    for t, o, h, lo, c, v in zip(ts, opens, highs, lows, closes, volumes, strict=True):
        t_s = int(as_float(NAME, t, "t"))
        if not start <= t_s < end:
            continue
        out.append(
            Candle(
                ts=utc_from_seconds(t_s),
                open=as_float(NAME, o, "o"),
                high=as_float(NAME, h, "h"),
                low=as_float(NAME, lo, "l"),
                close=as_float(NAME, c, "c"),
                volume=opt_float(v),
            )
        )
    out.sort(key=lambda candle: candle.ts)
    return out[:limit]


# News --------------------------------------------------------------------------------------
def params_company_news(symbol: str, today: date) -> dict[str, str]:
    start = today - timedelta(days=COMPANY_NEWS_DAYS)
    return {"symbol": symbol, "from": start.isoformat(), "to": today.isoformat()}


def mentions(terms: Iterable[str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive match of any term (``ETH`` must not match ``Ethereum``)."""
    alternatives = "|".join(re.escape(t) for t in terms if t)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)


def parse_news(body: Any, limit: int, about: re.Pattern[str] | None = None) -> list[Article]:
    require(NAME, isinstance(body, list), "news array")
    out: list[Article] = []
    for item in body:
        require(NAME, isinstance(item, dict), "news item object")
        title, url = item.get("headline"), item.get("url")
        if not isinstance(title, str) or not title or not isinstance(url, str) or not url:
            continue  # market news occasionally carries empty placeholder items
        related = str(item.get("related") or "")
        summary = item.get("summary") if isinstance(item.get("summary"), str) else None
        if about is not None and not about.search(f"{title} {summary or ''} {related}"):
            continue
        out.append(
            Article(
                title=title,
                url=url,
                published_at=utc_from_seconds(as_float(NAME, item.get("datetime"), "datetime")),
                provider=NAME,
                source_name=str(item["source"]) if item.get("source") else None,
                summary=summary or None,
                image_url=str(item["image"]) if item.get("image") else None,
                tickers=tuple(t.strip() for t in related.split(",") if t.strip()),
            )
        )
    out.sort(key=lambda a: a.published_at, reverse=True)
    return out[:limit]


# Fundamentals ------------------------------------------------------------------------------
def _first(metric: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = opt_float(metric.get(key))
        if value is not None:
            return value
    return None


def _millions(value: Any) -> float | None:
    number = opt_float(value)
    return number * 1e6 if number is not None else None


def parse_fundamentals(symbol: str, profile: Any, metrics: Any) -> Fundamentals:
    require(NAME, isinstance(profile, dict), "profile object")
    if not profile:
        raise SymbolNotFoundError(NAME, symbol)  # /stock/profile2 answers {} for unknown symbols
    metric: dict[str, Any] = {}
    if metrics is not None:
        require(NAME, isinstance(metrics, dict), "metric object")
        raw = metrics.get("metric") or {}
        require(NAME, isinstance(raw, dict), "metric.metric object")
        metric = raw
    div_yield = _first(metric, "dividendYieldIndicatedAnnual", "currentDividendYieldTTM")

    def text(key: str) -> str | None:
        value = profile.get(key)
        return str(value) if value else None

    return Fundamentals(
        symbol=symbol,
        source=NAME,
        name=text("name"),
        exchange=text("exchange"),
        currency=text("currency"),
        country=text("country"),
        sector=text("finnhubIndustry"),  # Finnhub's one-level industry class ("Technology")
        website=text("weburl"),
        # profile2 reports both in millions.
        market_cap=_millions(profile.get("marketCapitalization")),
        shares_outstanding=_millions(profile.get("shareOutstanding")),
        pe_ratio=_first(metric, "peTTM", "peBasicExclExtraTTM", "peInclExtraTTM"),
        eps=_first(metric, "epsTTM", "epsBasicExclExtraItemsTTM", "epsInclExtraItemsTTM"),
        # Finnhub gives a percentage (0.52 = 0.52 %); the domain keeps a fraction.
        dividend_yield=div_yield / 100.0 if div_yield is not None else None,
        beta=_first(metric, "beta"),
        week52_high=_first(metric, "52WeekHigh"),
        week52_low=_first(metric, "52WeekLow"),
        extra={k: profile[k] for k in ("ipo", "logo", "phone", "ticker") if profile.get(k)},
    )


# Search and symbol lists -------------------------------------------------------------------
def parse_search(body: Any) -> list[SymbolMatch]:
    require(NAME, isinstance(body, dict) and isinstance(body.get("result"), list), "result list")
    out: list[SymbolMatch] = []
    for item in body["result"]:
        require(NAME, isinstance(item, dict) and "symbol" in item, "search item with 'symbol'")
        kind = str(item.get("type") or "").lower()
        out.append(
            SymbolMatch(
                symbol=str(item.get("displaySymbol") or item["symbol"]),
                name=str(item.get("description") or ""),
                asset_class=AssetClass.CRYPTO if kind == "crypto" else AssetClass.STOCK,
                provider_symbol=str(item["symbol"]),
                source=NAME,
            )
        )
    return out


def parse_stock_symbols(body: Any) -> list[SymbolMatch]:
    """``/stock/symbol?exchange=US``: one array of every listed ticker, e.g.
    ``{"currency":"USD","description":"APPLE INC","displaySymbol":"AAPL","figi":"…",
    "mic":"XNAS","symbol":"AAPL","type":"Common Stock"}``. Rows without a usable ticker (or
    with characters no request symbol may carry) are skipped, not fatal."""
    require(NAME, isinstance(body, list), "stock symbol array")
    out: list[SymbolMatch] = []
    for item in body:
        require(NAME, isinstance(item, dict), "stock symbol object")
        ticker = item.get("displaySymbol") or item.get("symbol")
        if not isinstance(ticker, str) or not SYMBOL_PATTERN.fullmatch(ticker):
            continue
        name = item.get("description")
        out.append(
            SymbolMatch(
                symbol=ticker.upper(),
                name=name if isinstance(name, str) and name else ticker.upper(),
                asset_class=AssetClass.STOCK,
                provider_symbol=str(item.get("symbol") or ticker),
                source=NAME,
            )
        )
    return out


def parse_crypto_symbols(body: Any, quote_asset: str = "USDT") -> dict[str, str]:
    """``[{"displaySymbol": "BTC/USDT", "symbol": "BINANCE:BTCUSDT"}, ...]`` → {"BTC": ...}."""
    require(NAME, isinstance(body, list), "crypto symbol array")
    out: dict[str, str] = {}
    for item in body:
        require(NAME, isinstance(item, dict), "crypto symbol object")
        display, vendor = item.get("displaySymbol"), item.get("symbol")
        if not isinstance(display, str) or not isinstance(vendor, str):
            continue
        base, sep, quote = display.upper().partition("/")
        if sep and quote == quote_asset and base:
            out.setdefault(base, vendor)
    return out
