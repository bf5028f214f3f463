"""CoinMarketCap emulator: ``/v1/cryptocurrency/map``, ``/v2/cryptocurrency/quotes/latest``,
``/v2/cryptocurrency/info`` and ``/v1/key/info`` in CMC's envelope
(``{"data": …, "status": {"error_code", "error_message", …}}``), synthetic data.

Coins are the top-coin table (with their real CMC ids) plus a few that only the map reveals;
WIF is shared by an active coin and an inactive one, so the adapter's best-coin choice runs.
The key travels in ``X-CMC_PRO_API_KEY`` (or ``CMC_PRO_API_KEY``); none is 401 code 1002, the
key "invalid" is 401 code 1001. Over the limit the answer is HTTP 429 with code 1008 and no
Retry-After (whether CMC sends one is UNVERIFIED). Unknown ids or symbols are HTTP 400,
code 400, ``Invalid value for "id": "…"``, unless ``skip_invalid=true`` drops them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from marketsvc import config
from marketsvc.sandbox import _synth
from marketsvc.sandbox._framework import Handler, ProviderEmulator, qp
from marketsvc.symbols import TOP_COINS

# id → (ticker, name, rank (None = unranked), active, synthetic symbol behind its price)
COINS: dict[int, tuple[str, str, int | None, bool, str]] = {
    c.cmc_id: (c.symbol, c.name, rank, True, c.symbol)
    for rank, c in enumerate(TOP_COINS.values(), start=1)
}
COINS.update(
    {
        24478: ("PEPE", "Pepe", 40, True, "PEPE"),
        28752: ("WIF", "dogwifhat", 60, True, "WIF"),
        99000001: ("WIF", "WIF Imitation (synthetic)", None, False, "WIF-IMITATION"),
    }
)
# The long tail: every other listed coin, so the map pages past its 5,000-row limit.
_TICKERS = {sym for sym, *_ in COINS.values()}
COINS.update(
    {
        c.cmc_id: (c.symbol, c.name, c.rank, True, c.symbol)
        for c in _synth.LISTED_COINS
        if c.symbol not in _TICKERS
    }
)
RATE_LIMIT_MESSAGE = (
    "You've exceeded your API Key's HTTP request rate limit. Rate limits reset every minute."
)


def _iso(t: float) -> str:
    return (
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(t * 1000) % 1000:03d}Z"
    )


def supply(symbol: str) -> float:
    digest = hashlib.sha256(f"cmc:supply:{symbol}".encode()).digest()
    return round(1e7 * (1 + 99 * int.from_bytes(digest[:4], "big") / 2**32), 2)


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


class Emulator(ProviderEmulator):
    name = "coinmarketcap"
    default_limits = config.DEFAULT_RATE_LIMITS["coinmarketcap"]

    def routes(self) -> list[Route]:
        return [
            self.route("/v1/cryptocurrency/map", self._keyed(self.map)),
            self.route("/v2/cryptocurrency/quotes/latest", self._keyed(self.quotes_latest)),
            self.route("/v2/cryptocurrency/info", self._keyed(self.info)),
            self.route("/v1/key/info", self._keyed(self.key_info)),
        ]

    def _envelope(self, data: Any, *, code: int = 0, message: str | None = None) -> dict[str, Any]:
        return {
            "data": data,
            "status": {
                "timestamp": _iso(self.now()),
                "error_code": code,
                "error_message": message,
                "elapsed": 7,
                "credit_count": 0 if code else 1,
                "notice": None,
            },
        }

    def _error(self, status: int, code: int, message: str) -> JSONResponse:
        body = self._envelope(None, code=code, message=message)
        del body["data"]  # error answers carry only the status object
        return JSONResponse(body, status_code=status)

    def throttled(self, request: Request, retry_after: float) -> Response:
        return self._error(429, 1008, RATE_LIMIT_MESSAGE)

    def server_error(self, request: Request, status: int) -> Response:
        return self._error(status, 500, "An internal server error occurred")

    def _keyed(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            key = request.headers.get("x-cmc_pro_api_key") or qp(request, "CMC_PRO_API_KEY")
            if not key:
                return self._error(401, 1002, "API key missing.")
            if key == "invalid":
                return self._error(401, 1001, "This API Key is invalid.")
            return await handler(request)

        return guarded

    def _unknown(self, param: str, values: list[str]) -> JSONResponse:
        plural = "values" if len(values) > 1 else "value"
        return self._error(400, 400, f'Invalid {plural} for "{param}": "{",".join(values)}"')

    # Endpoints -----------------------------------------------------------------------------
    async def map(self, request: Request) -> Response:
        raw = qp(request, "symbol")
        if raw is not None:
            wanted = [s.strip().upper() for s in raw.split(",") if s.strip()]
            known = {sym for sym, *_ in COINS.values()}
            unknown = [s for s in wanted if s not in known]
            if not wanted or unknown:
                return self._unknown("symbol", unknown or [raw])
            ids = sorted(cid for cid, row in COINS.items() if row[0] in wanted)
        else:
            try:
                start = max(1, int(qp(request, "start") or 1))
                limit = max(1, min(5000, int(qp(request, "limit") or 5000)))
            except ValueError:
                return self._error(400, 400, 'Invalid value for "start" or "limit"')
            listed = sorted(cid for cid, row in COINS.items() if row[3])
            if qp(request, "sort") == "cmc_rank":
                listed.sort(key=lambda cid: COINS[cid][2] or 10**9)
            ids = listed[start - 1 : start - 1 + limit]
        return JSONResponse(self._envelope([self._map_row(cid) for cid in ids]))

    async def quotes_latest(self, request: Request) -> Response:
        convert = (qp(request, "convert") or "USD").upper()
        if convert != "USD":
            return self._unknown("convert", [convert])
        raw_ids, raw_symbols = qp(request, "id"), qp(request, "symbol")
        skip = qp(request, "skip_invalid") == "true"
        if raw_ids is not None:
            asked = [v.strip() for v in raw_ids.split(",") if v.strip()]
            valid = [v for v in asked if v.isdigit() and int(v) in COINS]
            invalid = [v for v in asked if v not in valid]
            if not valid or (invalid and not skip):
                return self._unknown("id", invalid or [raw_ids])
            data: dict[str, Any] = {v: self._coin(int(v)) for v in valid}
        elif raw_symbols is not None:
            asked = [v.strip().upper() for v in raw_symbols.split(",") if v.strip()]
            by_symbol = {s: [cid for cid, row in COINS.items() if row[0] == s] for s in asked}
            invalid = [s for s, ids in by_symbol.items() if not ids]
            if not asked or (invalid and not skip) or len(invalid) == len(by_symbol):
                return self._unknown("symbol", invalid or [raw_symbols])
            # v2 by symbol: an array per symbol, since symbols are not unique.
            data = {s: [self._coin(cid) for cid in ids] for s, ids in by_symbol.items() if ids}
        else:
            return self._error(400, 400, '"value" must contain at least one of [id, symbol, slug]')
        return JSONResponse(self._envelope(data))

    async def info(self, request: Request) -> Response:
        raw = qp(request, "id")
        if raw is None:
            return self._error(400, 400, '"value" must contain at least one of [id, symbol, slug]')
        asked = [v.strip() for v in raw.split(",") if v.strip()]
        invalid = [v for v in asked if not (v.isdigit() and int(v) in COINS)]
        if not asked or invalid:
            return self._unknown("id", invalid or [raw])
        return JSONResponse(self._envelope({v: self._profile(int(v)) for v in asked}))

    async def key_info(self, request: Request) -> Response:
        st = self.state.provider(self.name)
        per_minute = next((lim.limit for lim in st.limits if lim.unit == "minute"), 30)
        used = sum(w for ts, w in st.log if ts > self.now() - 60)
        plan = {
            "credit_limit_monthly": 10000,
            "credit_limit_monthly_reset": "In 30 days",
            "rate_limit_minute": per_minute,
        }
        usage = {"current_minute": {"requests_made": used, "requests_left": per_minute - used}}
        return JSONResponse(self._envelope({"plan": plan, "usage": usage}))

    # Rows ----------------------------------------------------------------------------------
    def _map_row(self, cid: int) -> dict[str, Any]:
        sym, name, rank, active, _ = COINS[cid]
        return {
            "id": cid,
            "rank": rank,
            "name": name,
            "symbol": sym,
            "slug": slug(name),
            "is_active": 1 if active else 0,
            "first_historical_data": "2013-04-28T18:47:21.000Z",
            "last_historical_data": _iso(self.now() // 300 * 300),
            "platform": None,
        }

    def _coin(self, cid: int) -> dict[str, Any]:
        sym, name, rank, active, synth = COINS[cid]
        now = self.now()
        minute = now // 60 * 60  # CMC refreshes its quotes once a minute
        price = _synth.price_at(synth, minute) * self.factor()
        hour, day, week = (
            _synth.price_at(synth, minute - s) * self.factor() for s in (3600, 86400, 7 * 86400)
        )
        volume = _synth.bar(synth, int(minute) - 86400, 86400).volume
        return {
            "id": cid,
            "name": name,
            "symbol": sym,
            "slug": slug(name),
            "is_active": 1 if active else 0,
            "is_fiat": 0,
            "circulating_supply": supply(synth),
            "total_supply": supply(synth),
            "max_supply": None,
            "infinite_supply": False,
            "date_added": "2013-04-28T00:00:00.000Z",
            "num_market_pairs": 100,
            "cmc_rank": rank,
            "last_updated": _iso(minute),
            "tags": ["synthetic"],
            "platform": None,
            "self_reported_circulating_supply": None,
            "self_reported_market_cap": None,
            "quote": {
                "USD": {
                    "price": price,
                    "volume_24h": volume,
                    "volume_change_24h": 0.0,
                    "percent_change_1h": (price - hour) / hour * 100,
                    "percent_change_24h": (price - day) / day * 100,
                    "percent_change_7d": (price - week) / week * 100,
                    "market_cap": price * supply(synth),
                    "market_cap_dominance": 0.0,
                    "fully_diluted_market_cap": price * supply(synth),
                    "last_updated": _iso(minute),
                }
            },
        }

    def _profile(self, cid: int) -> dict[str, Any]:
        sym, name, _, _, _ = COINS[cid]
        return {
            "id": cid,
            "name": name,
            "symbol": sym,
            "category": "coin",
            "description": f"{name} ({sym}) (synthetic): a sandbox profile, not real data.",
            "slug": slug(name),
            "logo": f"https://sandbox.marketsvc.invalid/cmc/logos/{cid}.png",
            "subreddit": "",
            "notice": "",
            "tags": ["synthetic"],
            "tag-names": ["Synthetic"],
            "urls": {
                "website": [f"https://sandbox.marketsvc.invalid/cmc/{slug(name)}"],
                "twitter": [],
                "message_board": [],
                "chat": [],
                "explorer": [],
                "reddit": [],
                "technical_doc": [],
                "source_code": [],
                "announcement": [],
            },
            "platform": None,
            "date_added": "2013-04-28T00:00:00.000Z",
            "date_launched": None,
        }
