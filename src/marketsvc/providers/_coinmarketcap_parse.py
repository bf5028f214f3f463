"""CoinMarketCap wire format ↔ domain models: every vendor field name is mapped here, once.

Pure functions only (no I/O, time passed in). Every CMC answer is the envelope
``{"data": …, "status": {"error_code", "error_message", …}}``; a non-zero ``error_code`` is an
error even on HTTP 200 (shared/reference/providers.md §2.4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from marketsvc.domain import AssetClass, Fundamentals, Quote, SymbolMatch
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers._common import parse_iso
from marketsvc.providers._http import Response, as_float, opt_float, require

NAME = "coinmarketcap"
CONVERT = "USD"

_AUTH_CODES: dict[int, str] = {
    1001: "API key invalid",
    1002: "API key missing",
    1003: "API key not activated",
    1004: "subscription expired",
    1005: "API key required",
    1006: "endpoint not in the key's plan",
    1007: "API key disabled",
}
_LIMIT_CODES: dict[int, str] = {
    1008: "per-minute rate limit reached",
    1009: "daily credit allowance spent",
    1010: "monthly credit allowance spent",
    1011: "per-IP rate limit reached",
}
# CMC's answer to an unknown id or symbol: HTTP 400, code 400, 'Invalid value(s) for "id": …'.
_UNKNOWN_PREFIXES = tuple(
    f'invalid {value} for "{param}"' for value in ("value", "values") for param in ("id", "symbol")
)


def limit_reset_in(code: int, now: float) -> float:
    """Seconds until the limit behind ``code`` resets, when CMC sends no Retry-After
    (whether it ever does is UNVERIFIED): the next minute, UTC day or UTC month."""
    moment = datetime.fromtimestamp(now, UTC)
    if code == 1009:
        reset = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    elif code == 1010:
        year, month = (
            (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        )
        reset = datetime(year, month, 1, tzinfo=UTC)
    else:
        return float(max(1, math.ceil(60 - now % 60)))
    return max(1.0, reset.timestamp() - now)


def _status(body: Any) -> tuple[int | None, str]:
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, dict):
        return None, ""
    code, message = status.get("error_code"), status.get("error_message")
    code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    return code, message if isinstance(message, str) else ""


def raise_for_cmc(resp: Response, now: float, symbols: Sequence[str] = ()) -> None:
    """Map the HTTP status and ``status.error_code`` (on any status) to typed errors.
    ``symbols`` are what the call asked about: an unknown-id/symbol 400 names them."""
    body = resp.json_or_none()
    code, message = _status(body)
    if code == 0 and resp.status < 400:
        return
    if code in _LIMIT_CODES or resp.status == 429:
        retry_after = resp.retry_after()
        if retry_after is None:
            retry_after = limit_reset_in(code or 1008, now)
        what = _LIMIT_CODES.get(code or 0, "rate limited")
        raise RateLimitedError(
            NAME, f"HTTP {resp.status}: {what} (code {code})", retry_after=retry_after
        )
    if code in _AUTH_CODES or resp.status in (401, 402, 403):
        what = _AUTH_CODES.get(code or 0, "key missing/invalid or not in plan")
        raise ProviderAuthError(NAME, f"HTTP {resp.status}: {what} (code {code})")
    if code == 400 or resp.status == 400:
        if symbols and message.lower().startswith(_UNKNOWN_PREFIXES):
            raise SymbolNotFoundError(NAME, ",".join(symbols), "HTTP 400: unknown id or symbol")
        raise BadDataError(NAME, f"HTTP {resp.status}: request rejected (code {code})")
    if resp.status >= 500 or (code is not None and code >= 500):
        raise ProviderUnavailableError(
            NAME, f"HTTP {resp.status}: server error (code {code})", reason="http_5xx"
        )
    if code is not None:
        raise BadDataError(NAME, f"HTTP {resp.status}: error code {code}")
    resp.raise_for_status()  # any other status without CMC's envelope


def data_of(body: Any, kind: type) -> Any:
    require(NAME, isinstance(body, dict), "answer is not an object")
    data = body.get("data")
    require(NAME, isinstance(data, kind), f"data is not {kind.__name__}")
    return data


# Symbol mapping -------------------------------------------------------------------------------
def _map_rows(body: Any) -> list[dict[str, Any]]:
    rows = data_of(body, list)
    for row in rows:
        require(
            NAME,
            isinstance(row, dict)
            and isinstance(row.get("id"), int)
            and isinstance(row.get("symbol"), str),
            "map entry id/symbol",
        )
    return list(rows)


def _rank_key(row: dict[str, Any]) -> tuple[int, float, int]:
    rank = row.get("rank")
    active = 0 if row.get("is_active", 1) == 1 else 1
    return active, float(rank) if isinstance(rank, int) and rank > 0 else math.inf, row["id"]


def best_ids(body: Any) -> dict[str, int]:
    """``/v1/cryptocurrency/map?symbol=…`` → symbol → id of its best coin: active first, then
    the best rank (symbols are not unique: ``ETC`` is also "Ethercoin")."""
    best: dict[str, dict[str, Any]] = {}
    for row in _map_rows(body):
        sym = row["symbol"].upper()
        if sym not in best or _rank_key(row) < _rank_key(best[sym]):
            best[sym] = row
    return {sym: row["id"] for sym, row in best.items()}


def parse_map_matches(body: Any) -> list[SymbolMatch]:
    return [
        SymbolMatch(
            symbol=row["symbol"].upper(),
            name=str(row.get("name") or row["symbol"]),
            asset_class=AssetClass.CRYPTO,
            provider_symbol=str(row["id"]),
            source=NAME,
        )
        for row in sorted(_map_rows(body), key=_rank_key)
    ]


def map_page_params(start: int, limit: int) -> dict[str, str | int]:
    """One page of the full map, best rank first (``sort=cmc_rank``), active coins only."""
    return {"listing_status": "active", "start": start, "limit": limit, "sort": "cmc_rank"}


# Quotes and profile ---------------------------------------------------------------------------
def quotes_params(ids: Sequence[int]) -> dict[str, str]:
    # skip_invalid: one delisted id must not fail the whole batch.
    return {"id": ",".join(str(i) for i in ids), "convert": CONVERT, "skip_invalid": "true"}


def parse_quote(coin: Any, symbol: str) -> Quote:
    """One ``data["<id>"]`` object of ``/v2/cryptocurrency/quotes/latest`` → Quote.

    CMC sends the 24 h change in percent only; ``change`` is derived from it."""
    require(NAME, isinstance(coin, dict), f"quote for {symbol}")
    quote = coin.get("quote")
    usd = quote.get(CONVERT) if isinstance(quote, dict) else None
    if not isinstance(usd, dict):
        raise BadDataError(NAME, f"unexpected response shape: quote.{CONVERT} for {symbol}")
    price = as_float(NAME, usd.get("price"), "price")
    pct = opt_float(usd.get("percent_change_24h"))
    updated = usd.get("last_updated") or coin.get("last_updated")
    require(NAME, isinstance(updated, str), "last_updated")
    try:
        timestamp = parse_iso(updated)
    except ValueError as exc:
        raise BadDataError(NAME, "unexpected response shape: last_updated") from exc
    return Quote(
        symbol=symbol,
        price=price,
        change=price - price / (1 + pct / 100) if pct is not None and pct > -100 else None,
        change_percent=pct,
        timestamp=timestamp,
        currency="USD",
        asset_class=AssetClass.CRYPTO,
        source=NAME,
        volume=opt_float(usd.get("volume_24h")),
        market_cap=opt_float(usd.get("market_cap")),
    )


def _first_url(urls: Any, key: str) -> str | None:
    values = urls.get(key) if isinstance(urls, dict) else None
    return next((u for u in values or [] if isinstance(u, str) and u), None)


def parse_info(coin: Any, symbol: str) -> Fundamentals:
    """One ``data["<id>"]`` object of ``/v2/cryptocurrency/info`` → Fundamentals (profile
    only: CMC's info carries no market figures)."""
    require(NAME, isinstance(coin, dict) and isinstance(coin.get("id"), int), "info entry")
    urls = coin.get("urls")
    platform = coin.get("platform")
    extra = {
        "cmc_id": coin["id"],
        "slug": coin.get("slug"),
        "category": coin.get("category"),
        "tags": [t for t in coin.get("tags") or [] if isinstance(t, str)],
        "logo": coin.get("logo"),
        "date_added": coin.get("date_added"),
        "platform": platform.get("name") if isinstance(platform, dict) else None,
        "explorer": _first_url(urls, "explorer"),
        "source_code": _first_url(urls, "source_code"),
    }
    return Fundamentals(
        symbol=symbol,
        source=NAME,
        name=coin.get("name") if isinstance(coin.get("name"), str) else None,
        description=coin.get("description") or None,
        currency="USD",
        website=_first_url(urls, "website"),
        extra={k: v for k, v in extra.items() if v not in (None, "", [])},
    )
