"""Binance spot emulator: ``/api/v3/{ping,time,exchangeInfo,ticker/24hr,ticker/price,klines}``
in Binance's wire format (decimals as strings, ms timestamps, ``{"code","msg"}`` errors).

Every request is weighed with Binance's real weights; every answer carries
``X-MBX-USED-WEIGHT-1M``; over the limit it answers 429 + Retry-After + code -1003, and a client
that keeps calling through ``ban_after`` consecutive 429s is "IP banned" with a 418 for
``ban_seconds`` (Binance's shortest ban). Unknown symbols answer HTTP 400 code -1121, also for a
``symbols=[...]`` batch holding one unknown pair (Binance rejects the whole batch).

Listing (SYNTHETIC, loosely modelled on the real one): top coins against USDT except USDT itself,
with MATICUSDT and XMRUSDT in status BREAK (delisted on the real exchange, so the table guess
fails and exchangeInfo must be asked); a few USDC/FDUSD/BTC pairs; PEPE (USDT) and WLD (USDC only)
beyond the built-in table. Stable-quoted pairs are priced at ``_synth.price_at(base)`` so
Binance agrees with the USD providers; BTC-quoted pairs at base/BTC.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from marketsvc import config
from marketsvc.sandbox._framework import ProviderEmulator, SandboxState, qp
from marketsvc.sandbox._synth import LISTED_COINS, bar, price_at
from marketsvc.symbols import TOP_COINS

STABLES = frozenset({"USDT", "USDC", "FDUSD"})
_DELISTED = ("MATIC", "XMR")
_EXTRA_PAIRS = {
    "BTCUSDC": ("BTC", "USDC"),
    "ETHUSDC": ("ETH", "USDC"),
    "SOLUSDC": ("SOL", "USDC"),
    "BTCFDUSD": ("BTC", "FDUSD"),
    "ETHFDUSD": ("ETH", "FDUSD"),
    "ETHBTC": ("ETH", "BTC"),
    "BNBBTC": ("BNB", "BTC"),
    "SOLBTC": ("SOL", "BTC"),
    "PEPEUSDT": ("PEPE", "USDT"),
    "WLDUSDC": ("WLD", "USDC"),
}


def _listing() -> dict[str, tuple[str, str, str]]:
    """pair → (base, quote, status)."""
    out = {f"{c}USDT": (c, "USDT", "TRADING") for c in TOP_COINS if c != "USDT"}
    for coin in _DELISTED:
        out[f"{coin}USDT"] = (coin, "USDT", "BREAK")
    out.update({pair: (b, q, "TRADING") for pair, (b, q) in _EXTRA_PAIRS.items()})
    # The long tail Binance lists (a fraction of all coins), with a few quote assets each.
    known = set(TOP_COINS) | {base for base, _ in _EXTRA_PAIRS.values()}
    tail = [c.symbol for c in LISTED_COINS if c.on_binance and c.symbol not in known]
    for i, coin in enumerate(tail):
        for quote, every in (("USDT", 1), ("BTC", 3), ("USDC", 4), ("FDUSD", 7)):
            if i % every == 0:
                out.setdefault(f"{coin}{quote}", (coin, quote, "TRADING"))
    return out


LISTING = _listing()
TRADING = frozenset(p for p, (_, _, status) in LISTING.items() if status == "TRADING")

INTERVALS = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
    "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200,
    "1w": 604800,
}  # fmt: skip
# Weekly klines open on Monday 00:00 UTC; the epoch was a Thursday, Monday came 4 days later.
_WEEK_OFFSET = 4 * 86400
_SYMBOLS_RE = re.compile(r'^\[("[A-Z0-9\-_.]{1,20}"(,"[A-Z0-9\-_.]{1,20}")*)?\]$')


def fmt(value: float) -> str:
    return f"{value:.8f}"


def error(code: int, msg: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg}, status_code=status)


INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}


class Emulator(ProviderEmulator):
    name = "binance"
    default_limits = config.DEFAULT_RATE_LIMITS["binance"]
    # Consecutive 429s after which the "IP" is banned with 418s, and for how long.
    ban_after = 10
    ban_seconds = 120.0

    def __init__(self, state: SandboxState) -> None:
        super().__init__(state)
        self._weights: deque[tuple[float, int]] = deque()  # every request, for the header
        self._strikes = 0
        self._banned_until = 0.0

    def routes(self) -> list[Route]:
        return [
            self.route("/api/v3/ping", self.ping),
            self.route("/api/v3/time", self.time),
            self.route("/api/v3/exchangeInfo", self.exchange_info),
            self.route("/api/v3/ticker/24hr", self.ticker_24hr),
            self.route("/api/v3/ticker/price", self.ticker_price),
            self.route("/api/v3/klines", self.klines),
            self.route("/api/v3/depth", self.depth),
        ]

    # Weights, header, throttling -----------------------------------------------------------
    def weight(self, request: Request) -> int:
        endpoint = request.url.path.rsplit("/api/v3/", 1)[-1]
        one = qp(request, "symbol") is not None
        if endpoint == "exchangeInfo":
            return 20
        if endpoint == "ticker/price":
            return 2 if one else 4
        if endpoint == "ticker/24hr":
            if one:
                return 2
            raw = qp(request, "symbols")
            if raw is None:
                return 80
            count = len(self._symbols(raw) or [None])
            return 2 if count <= 20 else 40 if count <= 100 else 80
        if endpoint == "depth":
            limit = int(qp(request, "limit", "100") or 100)
            return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        return 2 if endpoint == "klines" else 1

    def decorate(self, request: Request, response: Response) -> Response:
        now = self.now()
        self._weights.append((now, self.weight(request)))
        while self._weights and self._weights[0][0] <= now - 60.0:
            self._weights.popleft()
        if response.status_code not in (418, 429):
            self._strikes = 0
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(sum(w for _, w in self._weights))
        return response

    def throttled(self, request: Request, retry_after: float) -> Response:
        now = self.now()
        st = self.state.provider(self.name)
        self._strikes += 1
        if self._strikes > self.ban_after and self._banned_until <= now:
            self._banned_until = now + self.ban_seconds
            st.blocked_until = max(st.blocked_until, self._banned_until)
        if self._banned_until > now and st.blocked_until >= self._banned_until:
            msg = (
                f"Way too much request weight used; IP banned until "
                f"{int(self._banned_until * 1000)}. Please use WebSocket Streams for live "
                "updates to avoid bans."
            )
            wait, status = self._banned_until - now, 418
        else:
            lim = st.limits[0]
            msg = (
                f"Too much request weight used; current limit is {lim.limit} request weight "
                f"per 1 {lim.unit.upper()}. Please use WebSocket Streams for live updates to "
                "avoid polling the API."
            )
            wait, status = retry_after, 429
        return JSONResponse(
            {"code": -1003, "msg": msg},
            status_code=status,
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )

    def server_error(self, request: Request, status: int) -> Response:
        return error(
            -1001, "Internal error; unable to process your request. Please try again.", status
        )

    # Endpoints -------------------------------------------------------------------------------
    async def ping(self, request: Request) -> Response:
        return JSONResponse({})

    async def time(self, request: Request) -> Response:
        return JSONResponse({"serverTime": int(self.now() * 1000)})

    async def exchange_info(self, request: Request) -> Response:
        pairs, bad = self._requested(request, universe=LISTING.keys())
        if bad is not None:
            return bad
        rate_limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": lim.unit.upper(), "intervalNum": 1,
             "limit": lim.limit}
            for lim in self.state.provider(self.name).limits
        ]  # fmt: skip
        return JSONResponse(
            {
                "timezone": "UTC",
                "serverTime": int(self.now() * 1000),
                "rateLimits": rate_limits,
                "exchangeFilters": [],
                "symbols": [_symbol_info(p) for p in (pairs or list(LISTING))],
            }
        )

    async def ticker_24hr(self, request: Request) -> Response:
        pairs, bad = self._requested(request)
        if bad is not None:
            return bad
        now_ms = int(self.now() * 1000)
        if qp(request, "symbol") is not None:
            return JSONResponse(self._ticker(pairs[0], now_ms))
        return JSONResponse([self._ticker(p, now_ms) for p in (pairs or sorted(TRADING))])

    async def ticker_price(self, request: Request) -> Response:
        pairs, bad = self._requested(request)
        if bad is not None:
            return bad
        t = int(self.now() * 1000) / 1000
        rows = [{"symbol": p, "price": fmt(self._price(p, t))} for p in pairs or sorted(TRADING)]
        return JSONResponse(rows[0] if qp(request, "symbol") is not None else rows)

    async def depth(self, request: Request) -> Response:
        """The order book snapshot, from the same book the ``@depth`` stream moves."""
        pairs, bad = self._requested(request)
        if bad is not None:
            return bad
        if len(pairs) != 1 or qp(request, "symbol") is None:
            return error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null.")
        limit = min(max(int(qp(request, "limit", "100") or 100), 1), 5000)
        return JSONResponse(request.app.state.streams.depth_snapshot(pairs[0], limit))

    async def klines(self, request: Request) -> Response:
        pair = qp(request, "symbol")
        if not pair:
            return error(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        seconds = INTERVALS.get(qp(request, "interval") or "")
        if seconds is None:
            return error(-1120, "Invalid interval.")
        if pair not in TRADING:
            return JSONResponse(INVALID_SYMBOL, status_code=400)
        try:
            start = _opt_int(qp(request, "startTime"))
            end = _opt_int(qp(request, "endTime"))
            limit = min(1000, max(1, _opt_int(qp(request, "limit")) or 500))
        except ValueError:
            return error(-1100, "Illegal characters found in a parameter.")
        return JSONResponse(self._bars(pair, seconds, start, end, limit))

    # Helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _symbols(raw: str) -> list[str] | None:
        if not _SYMBOLS_RE.fullmatch(raw):
            return None
        return [s.strip('"') for s in raw[1:-1].split(",")] if raw != "[]" else []

    def _requested(
        self, request: Request, universe: Any = TRADING
    ) -> tuple[list[str], Response | None]:
        """The pairs named by ``symbol`` or ``symbols`` ([] = all), or Binance's error."""
        one, many = qp(request, "symbol"), qp(request, "symbols")
        if one is not None and many is not None:
            return [], error(-1128, "Combination of optional parameters invalid.")
        if many is not None:
            pairs = self._symbols(many)
            if pairs is None:
                return [], error(
                    -1100,
                    "Illegal characters found in parameter 'symbols'; legal range is "
                    '\'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$\'.',
                )
        else:
            pairs = [one] if one is not None else []
        if any(p not in universe for p in pairs):
            return [], JSONResponse(INVALID_SYMBOL, status_code=400)
        return list(dict.fromkeys(pairs)), None

    def _price(self, pair: str, t: float) -> float:
        base, quote, _ = LISTING[pair]
        usd = price_at(base, t) * self.factor()
        return usd if quote in STABLES else usd / price_at(quote, t)

    def _ticker(self, pair: str, now_ms: int) -> dict[str, Any]:
        t = now_ms / 1000
        last, opened = self._price(pair, t), self._price(pair, t - 86400)
        samples = [self._price(pair, t - k * 3600) for k in range(25)]
        high, low = max(samples), min(samples)
        volume = bar(LISTING[pair][0], int(t // 86400) * 86400, 86400).volume
        first_id = int(t // 60) * 100
        return {
            "symbol": pair,
            "priceChange": fmt(last - opened),
            "priceChangePercent": f"{(last - opened) / opened * 100:.3f}",
            "weightedAvgPrice": fmt((high + low + last) / 3),
            "prevClosePrice": fmt(self._price(pair, t - 86400 - 60)),
            "lastPrice": fmt(last),
            "lastQty": "0.01000000",
            "bidPrice": fmt(last * 0.99999),
            "bidQty": "1.00000000",
            "askPrice": fmt(last * 1.00001),
            "askQty": "1.00000000",
            "openPrice": fmt(opened),
            "highPrice": fmt(high),
            "lowPrice": fmt(low),
            "volume": fmt(volume),
            "quoteVolume": fmt(volume * last),
            "openTime": now_ms - 86_400_000,
            "closeTime": now_ms,
            "firstId": first_id,
            "lastId": first_id + 1439,
            "count": 1440,
        }

    def _bars(
        self, pair: str, seconds: int, start: int | None, end: int | None, limit: int
    ) -> list[list[Any]]:
        """Klines whose open time is in [startTime, endTime] and not in the future."""
        base, quote, _ = LISTING[pair]
        offset = _WEEK_OFFSET if seconds == 604800 else 0
        now = self.now()
        latest = math.floor((now - offset) / seconds) * seconds + offset
        last = latest if end is None else min(latest, _align_down(end / 1000, seconds, offset))
        if start is None:
            first = last - (limit - 1) * seconds
        else:
            step_ms = seconds * 1000
            first = -(-(start - offset * 1000) // step_ms) * seconds + offset  # ceil
        rows: list[list[Any]] = []
        for t in range(first, last + 1, seconds)[:limit]:
            b = bar(base, t, seconds)
            scale = self.factor() / (1.0 if quote in STABLES else price_at(quote, t))
            o, h, lo, c = (v * scale for v in (b.open, b.high, b.low, b.close))
            rows.append(
                [t * 1000, fmt(o), fmt(h), fmt(lo), fmt(c), fmt(b.volume),
                 (t + seconds) * 1000 - 1, fmt(b.volume * c), 100, fmt(b.volume / 2),
                 fmt(b.volume * c / 2), "0"]
            )  # fmt: skip
        return rows


def _align_down(t: float, seconds: int, offset: int) -> int:
    return math.floor((t - offset) / seconds) * seconds + offset


def _opt_int(raw: str | None) -> int | None:
    return None if raw is None or raw == "" else int(raw)


def _symbol_info(pair: str) -> dict[str, Any]:
    base, quote, status = LISTING[pair]
    return {
        "symbol": pair,
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [],
        "permissions": [],
        "permissionSets": [["SPOT"]],
    }
