"""CoinGecko wire format ↔ domain models: every vendor field name is mapped here, once.

Pure functions only (no I/O, time passed in), so ``coingecko.py`` stays thin glue and the unit
tests can feed the documented shapes (shared/reference/providers.md §1) straight in.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marketsvc.domain import Article, AssetClass, Candle, Fundamentals, Quote, SymbolMatch
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers._common import parse_iso, utc_from_seconds
from marketsvc.providers._http import Response, as_float, opt_float, require
from marketsvc.symbols import TOP_COINS

NAME = "coingecko"
PRO_HOST = "pro-api.coingecko.com"
VS = "usd"

# CoinGecko's own error codes (docs.coingecko.com/docs/errors-and-rate-limits; 10012 from
# logged answers). Messages say what to change without echoing the vendor text, which can
# carry URLs.
_AUTH_CODES: dict[int, str] = {
    10002: "API key missing or invalid (code 10002)",
    10005: "endpoint not in the key's plan (code 10005)",
    10010: "Pro key used on the public host; point COINGECKO_BASE_URL at the Pro host (code 10010)",
    10011: "Demo key used on the Pro host; use the public host (code 10011)",
    10012: "history older than 365 days needs a paid plan (code 10012)",
}

_ID_BY_COINGECKO = {coin.coingecko_id: coin.symbol for coin in TOP_COINS.values()}
_ID_BY_COINGECKO_SYMBOL = {coin.symbol: coin.coingecko_id for coin in TOP_COINS.values()}


def error_code(body: Any) -> int | None:
    """The vendor code from any of CoinGecko's three error shapes: ``{"status":{...}}``,
    ``{"error":{"status":{...}}}`` and ``{"error_code":..., "status":{...}}`` (10011)."""
    if not isinstance(body, dict):
        return None
    candidates = [body.get("error_code")]
    for holder in (body, body.get("error")):
        status = holder.get("status") if isinstance(holder, dict) else None
        if isinstance(status, dict):
            candidates.append(status.get("error_code"))
    for code in candidates:
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            return code
    return None


def raise_for_coingecko(resp: Response, symbol: str | None = None) -> None:
    """Map CoinGecko's statuses, error codes and CDN pages to typed errors.

    429 may be CoinGecko's JSON or a Cloudflare HTML page (keyless callers): both are rate
    limits. A 404 on a coin path means the id is unknown; anywhere else it is a wrong path."""
    body = resp.json_or_none()
    code = error_code(body)
    if resp.status == 429 or code == 429:
        page = "" if body is not None else " (CDN page)"
        raise RateLimitedError(
            NAME, f"HTTP {resp.status}: rate limit exceeded{page}", retry_after=resp.retry_after()
        )
    if code in _AUTH_CODES:
        raise ProviderAuthError(NAME, f"HTTP {resp.status}: {_AUTH_CODES[code]}")
    if resp.status < 400:
        if code is not None:  # an error inside a 200 carries no data
            raise BadDataError(NAME, f"HTTP {resp.status}: error code {code} in the body")
        return
    if resp.status == 404:
        if symbol is not None:
            raise SymbolNotFoundError(NAME, symbol, "HTTP 404: coin not found")
        raise BadDataError(NAME, "HTTP 404: endpoint not found on this host")
    if resp.status == 403 and body is None:
        raise ProviderAuthError(NAME, "HTTP 403: blocked by the CDN firewall (Access Denied)")
    resp.raise_for_status()


# Symbol mapping -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CoinIndex:
    """``/coins/list`` reduced to symbol → candidate ids (symbols are not unique)."""

    loaded_at: float
    by_symbol: Mapping[str, tuple[str, ...]]
    names: Mapping[str, str]  # id → name

    def candidates(self, symbol: str) -> tuple[str, ...]:
        return self.by_symbol.get(symbol.upper(), ())


def parse_coins_list(body: Any, loaded_at: float) -> CoinIndex:
    require(NAME, isinstance(body, list), "coins/list is not an array")
    by_symbol: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for row in body:
        require(NAME, isinstance(row, dict), "coins/list entry")
        coin_id, sym, name = row.get("id"), row.get("symbol"), row.get("name")
        require(NAME, isinstance(coin_id, str) and isinstance(sym, str), "coins/list id/symbol")
        by_symbol.setdefault(sym.upper(), []).append(coin_id)
        names[coin_id] = name if isinstance(name, str) else coin_id
    return CoinIndex(loaded_at, {s: tuple(ids) for s, ids in by_symbol.items()}, names)


def coins_list_matches(index: CoinIndex) -> list[SymbolMatch]:
    """``/coins/list`` as symbol-list entries: every (ticker, id) pair, since tickers are not
    unique; a top coin's own id comes first for its ticker, so its name is the one shown."""
    out: list[SymbolMatch] = []
    for sym, ids in index.by_symbol.items():
        top = _ID_BY_COINGECKO_SYMBOL.get(sym)
        ordered = sorted(ids, key=lambda i: i != top)
        out.extend(
            SymbolMatch(sym, index.names.get(i, i), AssetClass.CRYPTO, i, NAME) for i in ordered
        )
    return out


def _search_coins(body: Any) -> list[dict[str, Any]]:
    require(NAME, isinstance(body, dict) and isinstance(body.get("coins"), list), "search coins")
    coins = body["coins"]
    for coin in coins:
        require(
            NAME,
            isinstance(coin, dict)
            and isinstance(coin.get("id"), str)
            and isinstance(coin.get("symbol"), str),
            "search coin id/symbol",
        )
    return list(coins)


def best_search_id(body: Any, symbol: str, among: Sequence[str] = ()) -> str | None:
    """The best-ranked coin (lowest ``market_cap_rank``; unranked last) whose symbol is
    ``symbol``, optionally limited to the ids ``among``."""
    best: tuple[float, int, str] | None = None
    for order, coin in enumerate(_search_coins(body)):
        if coin["symbol"].upper() != symbol or (among and coin["id"] not in among):
            continue
        rank = coin.get("market_cap_rank")
        key = (float(rank) if isinstance(rank, int | float) else math.inf, order, coin["id"])
        best = key if best is None or key < best else best
    return best[2] if best else None


def parse_search(body: Any, limit: int = 25) -> list[SymbolMatch]:
    return [
        SymbolMatch(
            symbol=coin["symbol"].upper(),
            name=str(coin.get("name") or coin["id"]),
            asset_class=AssetClass.CRYPTO,
            provider_symbol=coin["id"],
            source=NAME,
        )
        for coin in _search_coins(body)[:limit]
    ]


# Quotes ---------------------------------------------------------------------------------------
def price_params(ids: Sequence[str]) -> dict[str, str]:
    return {
        "ids": ",".join(ids),
        "vs_currencies": VS,
        "include_market_cap": "true",
        "include_24hr_vol": "true",
        "include_24hr_change": "true",
        "include_last_updated_at": "true",
        "precision": "full",
    }


def parse_price(entry: Any, symbol: str, now: float) -> Quote:
    """One ``/simple/price`` entry (``{"usd":…,"usd_24h_change":…,…}``) → Quote.

    CoinGecko sends only the 24 h change in percent; ``change`` is derived from it
    (price − price / (1 + pct/100)), which is exact up to CoinGecko's rounding."""
    require(NAME, isinstance(entry, dict), f"simple/price entry for {symbol}")
    price = as_float(NAME, entry.get(VS), f"{VS} price")
    pct = opt_float(entry.get(f"{VS}_24h_change"))
    change = price - price / (1 + pct / 100) if pct is not None and pct > -100 else None
    updated = entry.get("last_updated_at")
    has_time = isinstance(updated, int | float) and not isinstance(updated, bool) and updated > 0
    return Quote(
        symbol=symbol,
        price=price,
        change=change,
        change_percent=pct,
        timestamp=utc_from_seconds(updated if has_time else now),
        currency="USD",
        asset_class=AssetClass.CRYPTO,
        source=NAME,
        volume=opt_float(entry.get(f"{VS}_24h_vol")),
        market_cap=opt_float(entry.get(f"{VS}_market_cap")),
    )


# History --------------------------------------------------------------------------------------
def _series(body: dict[str, Any], key: str) -> list[tuple[int, float]]:
    rows = body.get(key, [])
    require(NAME, isinstance(rows, list), f"market_chart {key}")
    out: list[tuple[int, float]] = []
    for row in rows:
        require(NAME, isinstance(row, list) and len(row) >= 2, f"market_chart {key} point")
        ts = row[0]
        require(NAME, isinstance(ts, int | float) and not isinstance(ts, bool), f"{key} time")
        if row[1] is None:
            continue  # CoinGecko leaves gaps as null values
        out.append((int(ts), as_float(NAME, row[1], f"{key} value")))
    out.sort()
    return out


def candles_from_chart(
    body: Any, step: int, first: int, stop: int, *, with_volume: bool
) -> list[Candle]:
    """``/market_chart/range`` price points → bars of ``step`` seconds starting in
    ``[first, stop)``, for every bar that holds at least one point.

    CoinGecko's points do not sit on bar boundaries, so a bar opens at the point nearest its
    start and closes at the point nearest its end, either may lie just outside the bar (up to
    half a step); high/low span the points from open to close. A bar's close is then the next
    bar's open, as with exchange candles. Volume is CoinGecko's rolling 24 h volume at the
    close, so it is kept for day bars only."""
    require(NAME, isinstance(body, dict), "market_chart is not an object")
    prices = _series(body, "prices")
    volumes = dict(_series(body, "total_volumes")) if with_volume else {}
    times = [ms / 1000 for ms, _ in prices]
    half = step / 2
    out: list[Candle] = []
    for start in range(first, stop, step):
        end = start + step
        lo, hi = bisect_left(times, start), bisect_left(times, end)  # inside: [lo, hi)
        if lo == hi:
            continue
        o = lo - 1 if lo > 0 and start - times[lo - 1] < min(times[lo] - start, half) else lo
        c = hi - 1
        if hi < len(times) and times[hi] - end < min(end - times[hi - 1], half):
            c = hi
        values = [p for _, p in prices[o : c + 1]]
        out.append(
            Candle(
                ts=utc_from_seconds(start),
                open=values[0],
                high=max(values),
                low=min(values),
                close=values[-1],
                volume=volumes.get(prices[c][0]) if with_volume else None,
            )
        )
    return out


# Profile and news -----------------------------------------------------------------------------
def _usd(market_data: Mapping[str, Any], key: str) -> float | None:
    field = market_data.get(key)
    return opt_float(field.get(VS)) if isinstance(field, dict) else opt_float(field)


def parse_profile(body: Any, symbol: str) -> Fundamentals:
    """``/coins/{id}`` → Fundamentals: a coin's profile, market cap and supply figures."""
    require(NAME, isinstance(body, dict) and isinstance(body.get("id"), str), "coin profile")
    description = body.get("description")
    links = body.get("links")
    homepages = links.get("homepage") if isinstance(links, dict) else None
    website = next((h for h in homepages or [] if isinstance(h, str) and h), None)
    market = body.get("market_data")
    market = market if isinstance(market, dict) else {}
    extra = {
        "coingecko_id": body["id"],
        "market_cap_rank": body.get("market_cap_rank"),
        "categories": [c for c in body.get("categories") or [] if isinstance(c, str)],
        "genesis_date": body.get("genesis_date"),
        "hashing_algorithm": body.get("hashing_algorithm"),
        "circulating_supply": opt_float(market.get("circulating_supply")),
        "total_supply": opt_float(market.get("total_supply")),
        "max_supply": opt_float(market.get("max_supply")),
        "price": _usd(market, "current_price"),
        "high_24h": _usd(market, "high_24h"),
        "low_24h": _usd(market, "low_24h"),
    }
    return Fundamentals(
        symbol=symbol,
        source=NAME,
        name=body.get("name") if isinstance(body.get("name"), str) else None,
        description=(description.get("en") or None) if isinstance(description, dict) else None,
        currency="USD",
        website=website,
        market_cap=_usd(market, "market_cap"),
        extra={k: v for k, v in extra.items() if v not in (None, [])},
    )


def parse_news(body: Any, limit: int) -> list[Article]:
    """Pro ``/news`` array → articles, newest first; related coin ids become tickers."""
    require(NAME, isinstance(body, list), "news is not an array")
    out: list[Article] = []
    for row in body:
        require(NAME, isinstance(row, dict), "news entry")
        title, url, posted = row.get("title"), row.get("url"), row.get("posted_at")
        require(
            NAME,
            all(isinstance(v, str) and v for v in (title, url, posted)),
            "news title/url/posted_at",
        )
        try:
            published: datetime = parse_iso(posted)
        except ValueError as exc:
            raise BadDataError(NAME, "unexpected response shape: news posted_at") from exc
        related = [c for c in row.get("related_coin_ids") or [] if isinstance(c, str)]
        out.append(
            Article(
                title=title,
                url=url,
                published_at=published,
                provider=NAME,
                source_name=row.get("source_name") or None,
                image_url=row.get("image") or None,
                tickers=tuple(_ID_BY_COINGECKO[c] for c in related if c in _ID_BY_COINGECKO),
            )
        )
    out.sort(key=lambda a: a.published_at, reverse=True)
    return out[:limit]
