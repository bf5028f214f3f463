"""CoinGecko emulator: the real paths under ``/api/v3`` in CoinGecko's wire format (numbers as
numbers, ms timestamps in charts, seconds in ``last_updated_at``), synthetic data.

Coins are the top-coin table plus a few that only ``/coins/list`` reveals, one ticker (WIF)
shared by two coins so the adapter's ``/search`` tie-break runs. The request's host plays the
real host split: ``pro-api.*`` wants a Pro key (a Demo key there is error 10011) and serves
``/news``; any other host is the public one (keyless or Demo key; a Pro key is error 10010;
history older than 365 days is error 10012). The key "invalid" is rejected with 10002.

Over the limit a keyed caller gets CoinGecko's 429 JSON with ``retry-after``; a keyless one
gets the Cloudflare HTML page, as keyless users report. 5xx answers are CDN HTML pages.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from marketsvc import config
from marketsvc.sandbox import _synth
from marketsvc.sandbox._framework import Handler, ProviderEmulator, qp
from marketsvc.symbols import TOP_COINS

# id → (ticker, name, market-cap rank, synthetic symbol behind its price)
COINS: dict[str, tuple[str, str, int | None, str]] = {
    c.coingecko_id: (c.symbol, c.name, rank, c.symbol)
    for rank, c in enumerate(TOP_COINS.values(), start=1)
}
COINS.update(
    {
        "pepe": ("PEPE", "Pepe", 40, "PEPE"),
        "dogwifcoin": ("WIF", "dogwifhat", 60, "WIF"),
        "wif-imitation": ("WIF", "WIF Imitation (synthetic)", None, "WIF-IMITATION"),
    }
)
# The long tail: every other listed coin (real and generated), so /coins/list is thousands long.
_TICKERS = {sym for sym, *_ in COINS.values()}
COINS.update(
    {
        c.coingecko_id: (c.symbol, c.name, c.rank, c.symbol)
        for c in _synth.LISTED_COINS
        if c.symbol not in _TICKERS
    }
)
# Hourly and 5-minute points sit a little after the boundary, as CoinGecko's do.
POINT_OFFSET = 23
DEMO_HISTORY_SECONDS = 365 * 86400
RATE_LIMIT_MESSAGE = (
    "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing "
    "to subscribe to our API plans for higher rate limits."
)
CLOUDFLARE_429 = (
    "<!DOCTYPE html><html><head><title>Access denied | api.coingecko.com used Cloudflare to "
    "restrict access</title></head><body><h1>Error 1015</h1><h2>You are being rate limited"
    "</h2></body></html>"
)


def supply(symbol: str) -> float:
    digest = hashlib.sha256(f"coingecko:supply:{symbol}".encode()).digest()
    return round(1e7 * (1 + 99 * int.from_bytes(digest[:4], "big") / 2**32), 2)


def volume_24h(symbol: str, t: float) -> float:
    """Rolling 24 h volume at ``t``: the synthetic day bar of the 24 h ending at t's minute."""
    return _synth.bar(symbol, int(t // 60 * 60) - 86400, 86400).volume


def granularity(start: float, end: float, now: float) -> int:
    """CoinGecko's automatic granularity for a range (docs, coins-id-market-chart-range)."""
    span = end - start
    if span <= 86400:
        return 300 if end >= now - 300 else 3600
    return 3600 if span <= 90 * 86400 else 86400


def _status(code: int, message: str, status: int) -> JSONResponse:
    return JSONResponse({"status": {"error_code": code, "error_message": message}}, status)


def _when(raw: str | None) -> float | None:
    """UNIX seconds or an ISO date (``YYYY-MM-DD`` / ``YYYY-MM-DDTHH:MM``), as the docs allow."""
    if raw is None or not raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


class Emulator(ProviderEmulator):
    name = "coingecko"
    default_limits = config.DEFAULT_RATE_LIMITS["coingecko"]

    def routes(self) -> list[Route]:
        return [
            self.route("/api/v3/ping", self._guard(self.ping)),
            self.route("/api/v3/simple/price", self._guard(self.simple_price)),
            self.route("/api/v3/coins/list", self._guard(self.coins_list)),
            self.route("/api/v3/search", self._guard(self.search)),
            self.route("/api/v3/news", self._guard(self.news)),
            self.route("/api/v3/coins/{coin_id}/market_chart/range", self._guard(self.chart)),
            self.route("/api/v3/coins/{coin_id}", self._guard(self.profile)),
        ]

    def throttled(self, request: Request, retry_after: float) -> Response:
        headers = {"retry-after": str(max(1, math.ceil(retry_after)))}
        if not self._keys(request)[0] and not self._keys(request)[1]:
            return HTMLResponse(CLOUDFLARE_429, status_code=429, headers=headers)
        body = {"status": {"error_code": 429, "error_message": RATE_LIMIT_MESSAGE}}
        return JSONResponse(body, status_code=429, headers=headers)

    def server_error(self, request: Request, status: int) -> Response:
        return HTMLResponse(
            f"<html><head><title>{status}</title></head><body><center><h1>{status}</h1>"
            "</center><hr><center>cloudflare</center></body></html>",
            status_code=status,
        )

    # Auth ----------------------------------------------------------------------------------
    @staticmethod
    def _keys(request: Request) -> tuple[str, str]:
        pro = request.headers.get("x-cg-pro-api-key") or qp(request, "x_cg_pro_api_key") or ""
        demo = request.headers.get("x-cg-demo-api-key") or qp(request, "x_cg_demo_api_key") or ""
        return pro, demo

    @staticmethod
    def _pro_host(request: Request) -> bool:
        return (request.url.hostname or "").startswith("pro-api.")

    def _denied(self, request: Request) -> Response | None:
        pro, demo = self._keys(request)
        if self._pro_host(request):
            if demo and not pro:
                # This error's real body puts error_code at the top level.
                return JSONResponse(
                    {
                        "timestamp": datetime.fromtimestamp(self.now(), UTC).isoformat(),
                        "error_code": 10011,
                        "status": {
                            "error_message": "If you are using Demo API key, please change "
                            "your root URL from pro-api.coingecko.com to api.coingecko.com"
                        },
                    },
                    status_code=400,
                )
            if not pro or pro == "invalid":
                return _status(10002, "API Key Missing or invalid", 401)
            return None
        if pro and not demo:
            return _status(
                10010,
                "If you are using Pro API key, please change your root URL from "
                "api.coingecko.com to pro-api.coingecko.com",
                400,
            )
        if demo == "invalid":
            return _status(10002, "Invalid API Key", 401)
        return None

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            denied = self._denied(request)
            if denied is not None:
                return denied
            return await handler(request)

        return guarded

    # Endpoints -----------------------------------------------------------------------------
    async def ping(self, request: Request) -> Response:
        return JSONResponse({"gecko_says": "(V3) To the Moon!"})

    async def simple_price(self, request: Request) -> Response:
        ids = [i.strip() for i in (qp(request, "ids") or "").split(",") if i.strip()]
        vs = [v.strip().lower() for v in (qp(request, "vs_currencies") or "").split(",")]
        if not ids or not any(vs):
            return JSONResponse({"error": "Missing parameter ids or vs_currencies"}, 400)
        flags = {k: qp(request, k) == "true" for k in _INCLUDES}
        now = self.now()
        out: dict[str, dict[str, float | int]] = {}
        for coin_id in dict.fromkeys(ids):
            if coin_id not in COINS or "usd" not in vs:
                continue  # unknown ids (and currencies) are left out, not rejected
            sym = COINS[coin_id][3]
            price = _synth.price_at(sym, now) * self.factor()
            before = _synth.price_at(sym, now - 86400) * self.factor()
            entry: dict[str, float | int] = {"usd": price}
            if flags["include_market_cap"]:
                entry["usd_market_cap"] = price * supply(sym)
            if flags["include_24hr_vol"]:
                entry["usd_24h_vol"] = volume_24h(sym, now)
            if flags["include_24hr_change"]:
                entry["usd_24h_change"] = (price - before) / before * 100
            if flags["include_last_updated_at"]:
                entry["last_updated_at"] = int(now)
            out[coin_id] = entry
        return JSONResponse(out)

    async def coins_list(self, request: Request) -> Response:
        platforms = qp(request, "include_platform") == "true"
        return JSONResponse(
            [
                {"id": cid, "symbol": sym.lower(), "name": name}
                | ({"platforms": {}} if platforms else {})
                for cid, (sym, name, _, _) in sorted(COINS.items())
            ]
        )

    async def search(self, request: Request) -> Response:
        q = (qp(request, "query") or "").strip().lower()
        hits = [
            (rank if rank is not None else math.inf, cid)
            for cid, (sym, name, rank, _) in COINS.items()
            if q and (q in cid or q in name.lower() or sym.lower().startswith(q))
        ]
        coins = [_search_row(cid) for _, cid in sorted(hits)]
        return JSONResponse(
            {"coins": coins, "exchanges": [], "icos": [], "categories": [], "nfts": []}
        )

    async def chart(self, request: Request) -> Response:
        coin_id = request.path_params["coin_id"]
        start, end = _when(qp(request, "from")), _when(qp(request, "to"))
        if qp(request, "vs_currency") is None or start is None or end is None:
            return JSONResponse({"error": "Missing or invalid parameter vs_currency/from/to"}, 400)
        if coin_id not in COINS:
            return JSONResponse({"error": "coin not found"}, status_code=404)
        now = self.now()
        if not self._pro_host(request) and start < now - DEMO_HISTORY_SECONDS:
            return JSONResponse(
                {
                    "error": {
                        "status": {
                            "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
                            "error_code": 10012,
                            "error_message": "Your request exceeds the allowed time range. "
                            "Public API users are limited to querying historical data within "
                            "the past 365 days.",
                        }
                    }
                },
                status_code=401,
            )
        sym = COINS[coin_id][3]
        step = granularity(start, end, now)
        offset = 0 if step == 86400 else POINT_OFFSET
        first = math.ceil((start - offset) / step) * step + offset
        prices, caps, volumes = [], [], []
        t = first
        while t <= min(end, now):
            ms, price = int(t * 1000), _synth.price_at(sym, t) * self.factor()
            prices.append([ms, price])
            caps.append([ms, price * supply(sym)])
            volumes.append([ms, volume_24h(sym, t)])
            t += step
        return JSONResponse({"prices": prices, "market_caps": caps, "total_volumes": volumes})

    async def profile(self, request: Request) -> Response:
        coin_id = request.path_params["coin_id"]
        if coin_id not in COINS:
            return JSONResponse({"error": "coin not found"}, status_code=404)
        sym, name, rank, synth = COINS[coin_id]
        now = self.now()
        price = _synth.price_at(synth, now) * self.factor()
        before = _synth.price_at(synth, now - 86400) * self.factor()
        day = [_synth.price_at(synth, now - k * 3600) * self.factor() for k in range(25)]
        body: dict[str, Any] = {
            "id": coin_id,
            "symbol": sym.lower(),
            "name": name,
            "web_slug": coin_id,
            "asset_platform_id": None,
            "categories": ["Cryptocurrency", "Synthetic"],
            "description": {"en": f"{name} (synthetic): a sandbox profile, not real data."},
            "links": {"homepage": [f"https://sandbox.marketsvc.invalid/coins/{coin_id}", ""]},
            "genesis_date": None,
            "hashing_algorithm": None,
            "market_cap_rank": rank,
            "last_updated": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
        }
        if qp(request, "market_data", "true") == "true":
            body["market_data"] = {
                "current_price": {"usd": price},
                "market_cap": {"usd": price * supply(synth)},
                "total_volume": {"usd": volume_24h(synth, now)},
                "high_24h": {"usd": max(day)},
                "low_24h": {"usd": min(day)},
                "price_change_percentage_24h": (price - before) / before * 100,
                "circulating_supply": supply(synth),
                "total_supply": supply(synth),
                "max_supply": None,
            }
        return JSONResponse(body)

    async def news(self, request: Request) -> Response:
        if not self._pro_host(request):
            return JSONResponse({"error": "Incorrect path. Please check the API docs."}, 404)
        try:
            page = max(1, min(20, int(qp(request, "page") or 1)))
            per_page = max(1, min(20, int(qp(request, "per_page") or 10)))
        except ValueError:
            return JSONResponse({"error": "Invalid page or per_page"}, status_code=400)
        coin_id = qp(request, "coin_id")
        if coin_id is not None and coin_id not in COINS:
            return JSONResponse({"error": "coin not found"}, status_code=404)
        topic = COINS[coin_id][3] if coin_id else "crypto"
        items = _synth.articles(topic, self.now(), page * per_page)[(page - 1) * per_page :]
        return JSONResponse(
            [
                {
                    "title": a.title,
                    "url": a.url,
                    "image": None,
                    "author": "Sandbox Desk (synthetic)",
                    "posted_at": datetime.fromtimestamp(a.published, UTC)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "type": "news",
                    "source_name": a.source_name,
                    "related_coin_ids": [coin_id] if coin_id else [],
                }
                for a in items
            ]
        )


_INCLUDES = (
    "include_market_cap",
    "include_24hr_vol",
    "include_24hr_change",
    "include_last_updated_at",
)


def _search_row(coin_id: str) -> dict[str, Any]:
    sym, name, rank, _ = COINS[coin_id]
    image = f"https://sandbox.marketsvc.invalid/coin-images/{coin_id}"
    return {
        "id": coin_id,
        "name": name,
        "api_symbol": coin_id,
        "symbol": sym,
        "market_cap_rank": rank,
        "thumb": f"{image}/thumb.png",
        "large": f"{image}/large.png",
    }
