"""Massive (ex-Polygon) wire format: request parameters, error quirks and every vendor field name
mapped to the domain models, in one place. Pure functions; the adapter is thin glue around them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marketsvc.domain import (
    Article,
    ArticleSentiment,
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
from marketsvc.providers._common import parse_iso, utc_from_ms
from marketsvc.providers._http import (
    Params,
    Response,
    as_float,
    opt_float,
    path_segment,
    require,
)

NAME = "polygon"
STOCK_SNAPSHOT = "v2/snapshot/locale/us/markets/stocks/tickers"
CRYPTO_SNAPSHOT = "v2/snapshot/locale/global/markets/crypto/tickers"
TICKERS = "v3/reference/tickers"
NEWS = "v2/reference/news"
# "limit" caps the base aggregates behind one answer; 50000 is the documented maximum.
AGGS_LIMIT = 50_000
# Massive documents no Retry-After; its only documented throttle is the per-minute cap, so a
# throttled caller waits at least that window.
DEFAULT_RETRY_AFTER = 60.0
_SUCCESS = frozenset({"OK", "DELAYED"})
_TIMESPAN = {
    Interval.MINUTE: "minute",
    Interval.HOUR: "hour",
    Interval.DAY: "day",
    Interval.WEEK: "week",
}
# Primary exchanges are ISO 10383 MIC codes; the rest of the service speaks exchange names.
EXCHANGE_NAMES = {
    "XNAS": "NASDAQ",
    "XNYS": "NYSE",
    "ARCX": "NYSE ARCA",
    "XASE": "NYSE AMERICAN",
    "BATS": "CBOE BZX",
}


# --- symbols -------------------------------------------------------------------------------
def crypto_ticker(base: str) -> str:
    return f"X:{base.upper()}USD"


def canonical_from_ticker(ticker: str) -> str:
    if ticker.startswith("X:") and ticker.endswith("USD"):
        return ticker[2:-3]
    return ticker


# --- errors --------------------------------------------------------------------------------
def check(resp: Response, symbol: str | None = None) -> dict[str, Any]:
    """The JSON envelope of a successful answer, or the typed error for every known quirk.

    Vendor messages are never copied into errors: they carry pricing URLs, and the rule is
    that no URL reaches an error message.
    """
    payload = resp.json_or_none()
    body = payload if isinstance(payload, dict) else {}
    status = str(body.get("status", "")).upper()
    text = str(body.get("error") or body.get("message") or "").lower()
    if resp.status == 429 or (status == "ERROR" and "exceeded" in text):
        # The 429 body may be empty; the throttle is per minute.
        raise RateLimitedError(
            NAME,
            f"HTTP {resp.status}: requests per minute exceeded",
            retry_after=resp.retry_after() or DEFAULT_RETRY_AFTER,
        )
    if resp.status == 401 or (status == "ERROR" and "api key" in text):
        raise ProviderAuthError(NAME, f"HTTP {resp.status}: API key missing or invalid")
    if resp.status == 403 or status == "NOT_AUTHORIZED":
        raise ProviderAuthError(NAME, f"HTTP {resp.status}: endpoint or timeframe not in plan")
    if resp.status == 404 or status == "NOT_FOUND":
        if symbol is not None:
            raise SymbolNotFoundError(NAME, symbol)
        raise BadDataError(NAME, f"HTTP {resp.status}: resource not found")
    resp.raise_for_status()
    if payload is None:
        raise BadDataError(NAME, f"HTTP {resp.status}: body is not JSON")
    require(NAME, isinstance(payload, dict), "envelope is not an object")
    require(NAME, status in _SUCCESS, f"status {status or 'missing'}")
    return body


# --- request parameters ----------------------------------------------------------------------
def _ms(dt: datetime) -> int:
    aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def history_path(ticker: str, interval: Interval, start: datetime, end: datetime) -> str:
    # Millisecond bounds give exact ranges; ``to`` is inclusive, hence end - 1 ms.
    return (
        f"v2/aggs/ticker/{path_segment(ticker)}/range/1/{_TIMESPAN[interval]}"
        f"/{_ms(start)}/{_ms(end) - 1}"
    )


def params_history() -> Params:
    return {"adjusted": "true", "sort": "asc", "limit": AGGS_LIMIT}


def params_news(ticker: str | None, limit: int) -> Params:
    params: dict[str, str | int] = {
        "limit": max(1, min(limit, 1000)),
        "order": "desc",
        "sort": "published_utc",
    }
    if ticker is not None:
        params["ticker"] = ticker
    return params


def params_search(query: str, limit: int = 20) -> Params:
    return {"search": query, "active": "true", "limit": limit}


def params_list(market: str) -> Params:
    """The first page of a market's whole listing (the largest page Massive allows)."""
    return {"market": market, "active": "true", "limit": 1000}


def next_url(payload: dict[str, Any]) -> str | None:
    link = payload.get("next_url")
    return link if isinstance(link, str) and link else None


def params_crypto_lookup(ticker: str) -> Params:
    return {"ticker": ticker, "market": "crypto", "active": "true", "limit": 1}


# --- parsing ---------------------------------------------------------------------------------
def utc_from_epoch(value: float) -> datetime:
    """Massive mixes units: aggregates and crypto in ms, stock trades and quotes in ns."""
    if value > 1e17:
        return datetime.fromtimestamp(value / 1e9, tz=UTC)
    if value > 1e14:
        return datetime.fromtimestamp(value / 1e6, tz=UTC)
    if value > 1e11:
        return utc_from_ms(value)
    return datetime.fromtimestamp(value, tz=UTC)


def _results(payload: dict[str, Any]) -> list[Any]:
    results = payload.get("results")
    if results is None:
        return []  # resultsCount 0: no "results" key at all
    require(NAME, isinstance(results, list), "results is not a list")
    return list(results)


def _bar(row: Any) -> Candle:
    require(NAME, isinstance(row, dict), "bar is not an object")
    return Candle(
        ts=utc_from_ms(as_float(NAME, row.get("t"), "t")),
        open=as_float(NAME, row.get("o"), "o"),
        high=as_float(NAME, row.get("h"), "h"),
        low=as_float(NAME, row.get("l"), "l"),
        close=as_float(NAME, row.get("c"), "c"),
        volume=opt_float(row.get("v")),
    )


def parse_prev(payload: dict[str, Any], symbol: str, asset_class: AssetClass) -> Quote:
    """Previous-day bar as a (delayed) quote; no results means the ticker is unknown."""
    results = _results(payload)
    if not results:
        raise SymbolNotFoundError(NAME, symbol)
    candle = _bar(results[0])
    return Quote(
        symbol=symbol,
        price=candle.close,
        change=None,
        change_percent=None,
        # The close is the price as of the end of that day's bar.
        timestamp=datetime.fromtimestamp(candle.ts.timestamp() + 86400, tz=UTC),
        currency="USD",
        asset_class=asset_class,
        source=NAME,
        volume=candle.volume,
        open=candle.open,
        high=candle.high,
        low=candle.low,
    )


def parse_aggs(payload: dict[str, Any]) -> tuple[list[Candle], str | None]:
    candles = [_bar(row) for row in _results(payload)]
    next_url = payload.get("next_url")
    return candles, next_url if isinstance(next_url, str) and next_url else None


def snapshot_rows(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Batch snapshot rows by ticker; tickers the vendor does not know are simply absent."""
    rows = payload.get("tickers") or []
    require(NAME, isinstance(rows, list), "tickers is not a list")
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("ticker"), str):
            out[row["ticker"]] = row
    return out


def _positive(section: Any, key: str) -> float | None:
    value = opt_float(section.get(key)) if isinstance(section, dict) else None
    return value if value is not None and value > 0 else None


def parse_snapshot(row: dict[str, Any], symbol: str, asset_class: AssetClass) -> Quote:
    last, minute, day, prev = (row.get(k) for k in ("lastTrade", "min", "day", "prevDay"))
    # Before the session the day and minute bars are zeros; fall back to the latest filled one.
    price = (
        _positive(last, "p")
        or _positive(minute, "c")
        or _positive(day, "c")
        or _positive(prev, "c")
    )
    stamp = _positive(last, "t") or opt_float(row.get("updated")) or _positive(minute, "t")
    if price is None or stamp is None:
        raise BadDataError(NAME, "unexpected response shape: snapshot has no price or time")
    return Quote(
        symbol=symbol,
        price=price,
        change=opt_float(row.get("todaysChange")),
        change_percent=opt_float(row.get("todaysChangePerc")),
        timestamp=utc_from_epoch(stamp),
        currency="USD",
        asset_class=asset_class,
        source=NAME,
        volume=_positive(day, "v"),
        open=_positive(day, "o"),
        high=_positive(day, "h"),
        low=_positive(day, "l"),
        previous_close=_positive(prev, "c"),
    )


def parse_news(payload: dict[str, Any]) -> list[Article]:
    articles: list[Article] = []
    for row in _results(payload):
        if not isinstance(row, dict):
            continue
        title, url, published = row.get("title"), row.get("article_url"), row.get("published_utc")
        if not (isinstance(title, str) and isinstance(url, str) and isinstance(published, str)):
            continue  # one incomplete story should not sink the page
        publisher, tickers = row.get("publisher"), row.get("tickers")
        publisher = publisher if isinstance(publisher, dict) else {}
        tickers = tickers if isinstance(tickers, list) else []
        articles.append(
            Article(
                title=title,
                url=url,
                published_at=parse_iso(published),
                provider=NAME,
                source_name=publisher.get("name"),
                summary=row.get("description"),
                image_url=row.get("image_url"),
                tickers=tuple(canonical_from_ticker(str(t)) for t in tickers),
                sentiment=_insights(row.get("insights")),
            )
        )
    articles.sort(key=lambda a: a.published_at, reverse=True)
    return articles


_INSIGHT_SCORES = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}


def _insights(value: Any) -> ArticleSentiment | None:
    """Massive's ``insights`` label each ticker positive / neutral / negative: scored +1 / 0 /
    -1, the article's score being their mean."""
    tickers: list[tuple[str, float]] = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        score = _INSIGHT_SCORES.get(str(item.get("sentiment", "")).lower())
        if score is not None and item.get("ticker"):
            tickers.append((canonical_from_ticker(str(item["ticker"])), score))
    if not tickers:
        return None
    mean = sum(s for _, s in tickers) / len(tickers)
    label = "positive" if mean > 0 else "negative" if mean < 0 else "neutral"
    return ArticleSentiment(mean, label, f"{NAME}_insights", None, tuple(tickers))


def parse_details(payload: dict[str, Any], symbol: str) -> Fundamentals:
    res = payload.get("results")
    if not isinstance(res, dict):
        raise SymbolNotFoundError(NAME, symbol)
    mic = res.get("primary_exchange")
    employees = opt_float(res.get("total_employees"))
    currency = res.get("currency_name")
    locale = res.get("locale")
    extra = {
        k: res[k]
        for k in ("cik", "composite_figi", "sic_code", "list_date", "type", "ticker_root")
        if res.get(k) is not None
    }
    return Fundamentals(
        symbol=symbol,
        source=NAME,
        name=res.get("name"),
        description=res.get("description"),
        exchange=EXCHANGE_NAMES.get(mic, mic) if isinstance(mic, str) else None,
        currency=currency.upper() if isinstance(currency, str) else None,
        country=locale.upper() if isinstance(locale, str) else None,
        industry=res.get("sic_description"),
        website=res.get("homepage_url"),
        employees=int(employees) if employees is not None else None,
        market_cap=opt_float(res.get("market_cap")),
        shares_outstanding=opt_float(res.get("share_class_shares_outstanding"))
        or opt_float(res.get("weighted_shares_outstanding")),
        extra=extra,
    )


def parse_search(payload: dict[str, Any]) -> list[SymbolMatch]:
    matches: list[SymbolMatch] = []
    for row in _results(payload):
        if not isinstance(row, dict) or not isinstance(row.get("ticker"), str):
            continue
        ticker, market = row["ticker"], row.get("market")
        name = str(row.get("name") or ticker)
        if market in ("stocks", "otc"):
            matches.append(SymbolMatch(ticker, name, AssetClass.STOCK, ticker, NAME))
        elif market == "crypto" and ticker.startswith("X:") and ticker.endswith("USD"):
            base = str(row.get("base_currency_symbol") or canonical_from_ticker(ticker))
            matches.append(SymbolMatch(base.upper(), name, AssetClass.CRYPTO, ticker, NAME))
        # fx, indices and options are outside the service's asset classes.
    return matches


def lookup_found(payload: dict[str, Any], ticker: str) -> bool:
    return any(isinstance(r, dict) and r.get("ticker") == ticker for r in _results(payload))
