"""Binance spot wire format ↔ domain models: every vendor field name is mapped here, once.

Pure functions only (no I/O, time passed in), so the adapter in ``binance.py`` stays thin glue
and the unit tests can feed the documented shapes straight in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from marketsvc.domain import AssetClass, Candle, Interval, Quote, SymbolMatch
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers._common import utc_from_ms
from marketsvc.providers._http import Response, as_float, opt_float, require
from marketsvc.symbols import TOP_COINS

NAME = "binance"

# Quote assets that stand for the US dollar, in order of preference (deepest books first).
# A pair quoted in one of them is reported with currency "USD": the service prices crypto in
# USD and these stablecoins track it within a fraction of a percent.
STABLE_QUOTES: tuple[str, ...] = ("USDT", "USDC", "FDUSD")

KLINE_INTERVALS: dict[Interval, str] = {
    Interval.MINUTE: "1m",
    Interval.HOUR: "1h",
    Interval.DAY: "1d",
    Interval.WEEK: "1w",
}

BINANCE_US_HINT = (
    "set BINANCE_BASE_URL=https://api.binance.us (US users) or "
    "BINANCE_BASE_URL=https://data-api.binance.vision (market-data-only host)"
)
# A 418 is an IP ban that lasts from 2 minutes to 3 days; without Retry-After, assume the minimum.
BAN_FALLBACK_SECONDS = 120.0


def table_pair(symbol: str) -> str | None:
    """The built-in guess for a top coin (no call needed); USDT itself has no USD pair."""
    if symbol in TOP_COINS and symbol != STABLE_QUOTES[0]:
        return f"{symbol}{STABLE_QUOTES[0]}"
    return None


@dataclass(frozen=True, slots=True)
class Listing:
    """What ``/api/v3/exchangeInfo`` says, reduced to what symbol mapping needs."""

    loaded_at: float
    # base asset → its preferred TRADING pair quoted in a stablecoin
    best_pair: Mapping[str, str]
    # every TRADING pair → (base asset, quote asset)
    pairs: Mapping[str, tuple[str, str]]

    def pair_for(self, symbol: str) -> str | None:
        """``BTC`` → ``BTCUSDT``; a stable-quoted pair name (``BTCUSDC``) is accepted as is."""
        if symbol in self.best_pair:
            return self.best_pair[symbol]
        legs = self.pairs.get(symbol)
        if legs is not None and legs[1] in STABLE_QUOTES:
            return symbol
        return None


def parse_exchange_info(body: Any, loaded_at: float) -> Listing:
    require(NAME, isinstance(body, dict) and isinstance(body.get("symbols"), list), "symbols")
    pairs: dict[str, tuple[str, str]] = {}
    for row in body["symbols"]:
        require(NAME, isinstance(row, dict), "symbols[] entry")
        pair, base, quote = row.get("symbol"), row.get("baseAsset"), row.get("quoteAsset")
        require(
            NAME,
            all(isinstance(v, str) and v for v in (pair, base, quote)),
            "symbol/baseAsset/quoteAsset",
        )
        if row.get("status") == "TRADING":
            pairs[pair] = (base, quote)
    best: dict[str, str] = {}
    rank = {q: i for i, q in enumerate(STABLE_QUOTES)}
    for pair, (base, quote) in pairs.items():
        if quote not in rank:
            continue
        current = best.get(base)
        if current is None or rank[quote] < rank[pairs[current][1]]:
            best[base] = pair
    return Listing(loaded_at=loaded_at, best_pair=best, pairs=pairs)


def symbols_param(pairs: Iterable[str]) -> str:
    """``symbols=["BTCUSDT","ETHUSDT"]``: a compact JSON array (Binance rejects spaces)."""
    return orjson.dumps(list(pairs)).decode()


def parse_ticker(row: Any, symbol: str) -> Quote:
    """One ``/api/v3/ticker/24hr`` (FULL) object → Quote for canonical ``symbol``."""
    require(NAME, isinstance(row, dict), "ticker is not an object")
    close_time = row.get("closeTime")
    require(NAME, isinstance(close_time, int) and not isinstance(close_time, bool), "closeTime")
    return Quote(
        symbol=symbol,
        price=as_float(NAME, row.get("lastPrice"), "lastPrice"),
        change=opt_float(row.get("priceChange")),
        change_percent=opt_float(row.get("priceChangePercent")),
        timestamp=utc_from_ms(close_time),
        currency="USD",
        asset_class=AssetClass.CRYPTO,
        source=NAME,
        volume=opt_float(row.get("volume")),
        open=opt_float(row.get("openPrice")),
        high=opt_float(row.get("highPrice")),
        low=opt_float(row.get("lowPrice")),
        previous_close=opt_float(row.get("prevClosePrice")),
    )


def index_tickers(body: Any) -> dict[str, Any]:
    """The ``symbols=[...]`` answer (an array of ticker objects) → {pair: raw ticker}; each
    row is parsed per requested symbol so one bad row fails only its own symbol."""
    require(NAME, isinstance(body, list), "ticker batch is not an array")
    out: dict[str, Any] = {}
    for row in body:
        require(NAME, isinstance(row, dict) and isinstance(row.get("symbol"), str), "ticker row")
        out[row["symbol"]] = row
    return out


def parse_klines(body: Any, start: datetime, end: datetime, limit: int) -> list[Candle]:
    """Array of ``[openTime, open, high, low, close, volume, closeTime, ...]`` → candles with
    ``start <= ts < end``, oldest first (Binance sends them in that order)."""
    require(NAME, isinstance(body, list), "klines is not an array")
    out: list[Candle] = []
    for row in body:
        require(NAME, isinstance(row, list) and len(row) >= 6, "kline row")
        opened = row[0]
        require(NAME, isinstance(opened, int) and not isinstance(opened, bool), "kline open time")
        ts = utc_from_ms(opened)
        if not start <= ts < end:
            continue
        out.append(
            Candle(
                ts=ts,
                open=as_float(NAME, row[1], "kline open"),
                high=as_float(NAME, row[2], "kline high"),
                low=as_float(NAME, row[3], "kline low"),
                close=as_float(NAME, row[4], "kline close"),
                volume=opt_float(row[5]),
            )
        )
    out.sort(key=lambda c: c.ts)
    return out[:limit]


def listing_matches(listing: Listing) -> list[SymbolMatch]:
    """Every base asset with a stablecoin-quoted TRADING pair (what the adapter can quote).
    exchangeInfo carries no asset names: the top-coin table names the ones it knows."""
    return [
        SymbolMatch(
            symbol=base,
            name=TOP_COINS[base].name if base in TOP_COINS else base,
            asset_class=AssetClass.CRYPTO,
            provider_symbol=pair,
            source=NAME,
        )
        for base, pair in sorted(listing.best_pair.items())
    ]


def search_listing(listing: Listing, query: str, limit: int = 25) -> list[SymbolMatch]:
    """Base assets matching ``query`` (exact, then prefix, then substring; pair names too)."""
    q = query.strip().upper()
    if not q:
        return []
    scored: list[tuple[int, str]] = []
    for base, pair in listing.best_pair.items():
        name = TOP_COINS[base].name.upper() if base in TOP_COINS else ""
        if base == q or pair == q:
            score = 0
        elif base.startswith(q) or name.startswith(q):
            score = 1
        elif q in base or q in name:
            score = 2
        else:
            continue
        scored.append((score, base))
    scored.sort()
    return [
        SymbolMatch(
            symbol=base,
            name=TOP_COINS[base].name if base in TOP_COINS else base,
            asset_class=AssetClass.CRYPTO,
            provider_symbol=listing.best_pair[base],
            source=NAME,
        )
        for _, base in scored[:limit]
    ]


def used_weight(headers: Mapping[str, str]) -> int | None:
    """``X-MBX-USED-WEIGHT-1M``: the IP's weight used in the current minute (every answer)."""
    raw = headers.get("x-mbx-used-weight-1m")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def raise_for_binance(resp: Response, pair: str | None = None) -> None:
    """Map Binance's status codes and ``{"code": -NNNN, "msg": ...}`` bodies to typed errors.

    Messages carry the status and Binance code only: ``msg`` is never copied (it can echo
    parameters and URLs)."""
    status = resp.status
    if status < 400:
        return
    body = resp.json_or_none()
    code = body.get("code") if isinstance(body, dict) else None
    if status in (418, 429):
        ban = status == 418
        retry_after = resp.retry_after()
        raise RateLimitedError(
            NAME,
            "HTTP 418: IP banned for continuing after 429s (code -1003)"
            if ban
            else "HTTP 429: request weight limit exceeded"
            + (f" (code {code})" if isinstance(code, int) else ""),
            retry_after=retry_after if retry_after is not None or not ban else BAN_FALLBACK_SECONDS,
        )
    if status == 451:
        raise ProviderAuthError(
            NAME,
            f"HTTP 451: Binance refuses service from this restricted location; {BINANCE_US_HINT}",
        )
    if status == 403:
        raise ProviderAuthError(NAME, "HTTP 403: request blocked by Binance's WAF")
    if code == -1121:
        raise SymbolNotFoundError(NAME, pair or "?", "code -1121: invalid symbol")
    if code == -1120:
        raise BadDataError(NAME, f"HTTP {status}: code -1120: bad kline interval")
    if status < 500 and isinstance(code, int):
        raise BadDataError(NAME, f"HTTP {status}: request rejected (code {code})")
    resp.raise_for_status()
