"""Massive (ex-Polygon) emulator: the REST paths and JSON envelopes the adapter uses, answered
with deterministic synthetic data.

Real quirks reproduced: aggregates and crypto times in ms, stock trade/quote times in ns,
``resultsCount: 0`` with no ``results`` key for unknown tickers, ``next_url`` paging when the
base-aggregate ``limit`` is exhausted, 401 ``error`` vs 403/404 ``message`` fields, and the
429 JSON with no Retry-After header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from marketsvc import config
from marketsvc.sandbox import _synth as synth
from marketsvc.sandbox._framework import ProviderEmulator, qp
from marketsvc.symbols import TOP_COINS

_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
_MIC = {"NASDAQ": "XNAS", "NYSE": "XNYS", "NYSE ARCA": "ARCX"}
_THROTTLE_TEXT = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your "
    "subscription to continue. https://massive.com/pricing"
)


_COIN_NAMES = {c.symbol: c.name for c in synth.LISTED_COINS}


def _request_id(request: Request) -> str:
    return hashlib.md5(str(request.url).encode(), usedforsecurity=False).hexdigest()


def _known(ticker: str) -> tuple[str, bool] | None:
    """(synthetic symbol, is crypto) for a ticker the emulator knows."""
    if ticker.startswith("X:") and ticker.endswith("USD") and synth.is_crypto(ticker[2:-3]):
        return ticker[2:-3], True
    if synth.is_stock(ticker):
        return ticker, False
    return None


def _bound(value: str, *, inclusive_end: bool) -> int:
    """``from``/``to`` path values (a millisecond timestamp or YYYY-MM-DD, ``to`` inclusive)
    as whole epoch seconds: the first bar start allowed, or the first one excluded."""
    if value.isdigit():
        ms = int(value)
        return ms // 1000 + 1 if inclusive_end else -(-ms // 1000)
    day = datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    return int(day.timestamp()) + (86400 if inclusive_end else 0)


def _previous_session(t: float, crypto: bool) -> int:
    day = math.floor(t / 86400) * 86400 - 86400
    while not crypto and not synth.is_trading_day(day):
        day -= 86400
    return day


class Emulator(ProviderEmulator):
    name = "polygon"
    default_limits = config.DEFAULT_RATE_LIMITS["polygon"]

    def routes(self) -> list[Route]:
        return [
            self.route("/v2/aggs/ticker/{ticker}/prev", self.prev),
            self.route(
                "/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{start}/{end}", self.aggs
            ),
            self.route("/v2/snapshot/locale/us/markets/stocks/tickers", self.stock_snapshot),
            self.route("/v2/snapshot/locale/global/markets/crypto/tickers", self.crypto_snapshot),
            self.route("/v2/reference/news", self.news),
            self.route("/v3/reference/tickers", self.tickers),
            self.route("/v3/reference/tickers/{ticker}", self.details),
        ]

    # --- vendor behaviour ----------------------------------------------------------------
    def throttled(self, request: Request, retry_after: float) -> Response:
        # Massive sends no Retry-After header (a request for one was declined, client#871).
        body = {"status": "ERROR", "request_id": _request_id(request), "error": _THROTTLE_TEXT}
        return JSONResponse(body, status_code=429)

    def server_error(self, request: Request, status: int) -> Response:
        return HTMLResponse(
            f"<html><head><title>{status}</title></head><body><center><h1>{status}</h1>"
            "</center><hr><center>nginx</center></body></html>",
            status_code=status,
        )

    def _denied(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if (auth.startswith("Bearer ") and auth[7:].strip()) or qp(request, "apiKey"):
            return None
        body = {
            "status": "ERROR",
            "request_id": _request_id(request),
            "error": "API Key was not provided",
        }
        return JSONResponse(body, status_code=401)

    def _bar_json(self, sym: str, b: synth.Bar, ticker: str | None = None) -> dict[str, Any]:
        f = self.factor()
        o, h, lo, c = (round(x * f, 8) for x in (b.open, b.high, b.low, b.close))
        row: dict[str, Any] = {
            "v": b.volume,
            "vw": round((o + h + lo + c) / 4, 4),
            "o": o,
            "c": c,
            "h": h,
            "l": lo,
            "t": b.start * 1000,
            "n": int(b.volume // 100) + 1,
        }
        return {"T": ticker, **row} if ticker else row

    # --- aggregates ----------------------------------------------------------------------
    async def prev(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        ticker = request.path_params["ticker"]
        env: dict[str, Any] = {"ticker": ticker, "adjusted": True, "status": "DELAYED"}
        env["request_id"] = _request_id(request)
        known = _known(ticker)
        if known is None:
            return JSONResponse({**env, "queryCount": 0, "resultsCount": 0})
        sym, crypto = known
        day = _previous_session(self.now(), crypto)
        row = self._bar_json(sym, synth.bar(sym, day, 86400), ticker)
        return JSONResponse(
            {**env, "queryCount": 1, "resultsCount": 1, "results": [row], "count": 1}
        )

    async def aggs(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        p = request.path_params
        ticker, timespan = p["ticker"], p["timespan"]
        rid = _request_id(request)
        try:
            seconds = int(p["multiplier"]) * _UNIT_SECONDS[timespan]
            start = _bound(p["start"], inclusive_end=False)
            end = _bound(p["end"], inclusive_end=True)
            opts = self._agg_options(request)
        except (KeyError, ValueError):
            error = {"status": "ERROR", "request_id": rid, "error": "Could not parse the request"}
            return JSONResponse(error, status_code=400)
        env: dict[str, Any] = {"ticker": ticker, "adjusted": opts["adjusted"], "status": "OK"}
        env["request_id"] = rid
        known = _known(ticker)
        # Only bars that have closed: the synthetic walk must not leak future prices.
        end = min(end, math.floor(self.now() / seconds) * seconds)
        if known is None or start >= end:  # nothing: no "results" key at all
            return JSONResponse({**env, "queryCount": 0, "resultsCount": 0})
        sym, crypto = known
        # ``limit`` counts base aggregates: minutes for intraday bars, days for longer ones.
        cost = seconds // 60 if seconds < 86400 else seconds // 86400
        per_page = max(1, int(opts["limit"]) // cost)
        found = self._take_bars(sym, start, end, seconds, crypto, per_page)
        page = found[:per_page]
        body: dict[str, Any] = {**env, "queryCount": len(page), "resultsCount": len(page)}
        if page:
            body["results"] = [self._bar_json(sym, b) for b in page]
            body["count"] = len(page)
        if len(found) > per_page:
            cursor = base64.urlsafe_b64encode(json.dumps(opts).encode()).decode()
            prefix = request.url.path[: request.url.path.index("/v2/aggs/")]
            path = (
                f"{prefix}/v2/aggs/ticker/{quote(ticker, safe=':.-')}/range/{p['multiplier']}"
                f"/{timespan}/{found[per_page].start * 1000}/{p['end']}"
            )
            body["next_url"] = str(
                request.url.replace(path=path, query=urlencode({"cursor": cursor}))
            )
        return JSONResponse(body)

    @staticmethod
    def _agg_options(request: Request) -> dict[str, Any]:
        cursor = qp(request, "cursor")
        if cursor:
            opts: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            return opts
        limit = min(int(qp(request, "limit", "5000") or 5000), 50_000)
        if limit < 1:
            raise ValueError("limit")
        # The adapter asks ascending only; the emulator always answers oldest first.
        return {"limit": limit, "adjusted": qp(request, "adjusted", "true") != "false"}

    @staticmethod
    def _take_bars(
        sym: str, start: int, end: int, seconds: int, crypto: bool, n: int
    ) -> list[synth.Bar]:
        """The first n + 1 bars of the range (one more tells whether a next page exists),
        generated window by window so a long range costs only what the page needs."""
        out: list[synth.Bar] = []
        cur = start
        while cur < end and len(out) <= n:
            stop = min(end, cur + seconds * (n + 1 - len(out)) + seconds)
            out.extend(synth.bars(sym, cur, stop, seconds, stock=not crypto))
            cur = stop
        return out[: n + 1]

    # --- snapshots -----------------------------------------------------------------------
    async def stock_snapshot(self, request: Request) -> Response:
        return self._snapshot(request, crypto=False)

    async def crypto_snapshot(self, request: Request) -> Response:
        return self._snapshot(request, crypto=True)

    def _snapshot(self, request: Request, *, crypto: bool) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        raw = qp(request, "tickers") or ""
        wanted = [t.strip() for t in raw.split(",") if t.strip()]
        if not wanted:  # an empty list means the whole market
            wanted = [f"X:{s}USD" for s in TOP_COINS] if crypto else list(synth.STOCKS)
        rows = []
        for ticker in wanted:
            known = _known(ticker)
            if known is not None and known[1] == crypto:
                rows.append(self._snapshot_row(ticker, known[0], crypto))
        return JSONResponse({"count": len(rows), "status": "OK", "tickers": rows})

    def _snapshot_row(self, ticker: str, sym: str, crypto: bool) -> dict[str, Any]:
        f = self.factor()
        now_ms = int(self.now() * 1000)
        t = now_ms / 1000.0
        # Stock trade/quote times are nanoseconds; crypto ones milliseconds.
        stamp = now_ms if crypto else now_ms * 1_000_000
        price = round(synth.price_at(sym, t) * f, 8)
        day_start = math.floor(t / 86400) * 86400
        minute_start = math.floor(t / 60) * 60
        today = synth.bar(sym, day_start, max(60, minute_start + 60 - day_start))
        prev = synth.bar(sym, _previous_session(t, crypto), 86400)
        prev_close = round(prev.close * f, 8)
        minute = self._bar_json(sym, synth.bar(sym, minute_start, 60))
        row: dict[str, Any] = {
            "day": {**self._bar_json(sym, today), "c": price},
            "lastTrade": {
                "c": [2] if crypto else None,
                "i": str(now_ms % 10**9),
                "p": price,
                "s": 0.01 if crypto else 100,
                "t": stamp,
                "x": 4 if crypto else 12,
            },
            "min": {**minute, "c": price, "av": today.volume},
            "prevDay": self._bar_json(sym, prev),
            "ticker": ticker,
            "todaysChange": round(price - prev_close, 8),
            "todaysChangePerc": round((price - prev_close) / prev_close * 100, 6),
            "updated": stamp,
        }
        for section in ("day", "prevDay"):
            row[section].pop("t", None)
            row[section].pop("n", None)
        if not crypto:
            row["fmv"] = price
            row["lastQuote"] = {"P": round(price * 1.0001, 4), "S": 5, "p": price, "s": 3}
            row["lastQuote"]["t"] = stamp
        return row

    # --- reference -----------------------------------------------------------------------
    async def news(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        ticker = qp(request, "ticker")
        limit = max(1, min(int(qp(request, "limit", "10") or 10), 1000))
        known = _known(ticker) if ticker else None
        rows: list[dict[str, Any]] = []
        if ticker is None or known is not None:
            topic = known[0] if known else "markets"
            for a in synth.articles(topic, self.now(), min(limit, 100)):
                rows.append(
                    {
                        "id": hashlib.sha256(a.url.encode()).hexdigest()[:43],
                        "publisher": {
                            "name": a.source_name,
                            "homepage_url": "https://sandbox.marketsvc.invalid/",
                        },
                        "title": a.title,
                        "author": "Sandbox Wire",
                        "published_utc": datetime.fromtimestamp(a.published, tz=UTC).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"
                        ),
                        "article_url": a.url,
                        "tickers": [ticker] if ticker else list(a.tickers),
                        "description": a.summary,
                        "keywords": ["synthetic"],
                    }
                )
        body: dict[str, Any] = {"results": rows, "status": "OK", "count": len(rows)}
        return JSONResponse({**body, "request_id": _request_id(request)})

    def _ticker_row(self, ticker: str, sym: str, crypto: bool) -> dict[str, Any]:
        if crypto:
            name = _COIN_NAMES[sym]
            return {
                "ticker": ticker,
                "name": f"{name} - United States dollar",
                "market": "crypto",
                "locale": "global",
                "active": True,
                "currency_symbol": "USD",
                "currency_name": "United States dollar",
                "base_currency_symbol": sym,
                "base_currency_name": name,
            }
        company = synth.STOCKS[sym]
        return {
            "ticker": ticker,
            "name": company.name,
            "market": "stocks",
            "locale": "us",
            "primary_exchange": _MIC.get(company.exchange, "XNYS"),
            "type": "ETF" if company.employees == 0 else "CS",
            "active": True,
            "currency_name": "usd",
            "cik": f"{int(hashlib.sha256(sym.encode()).hexdigest()[:8], 16) % 10**10:010d}",
        }

    async def tickers(self, request: Request) -> Response:
        """``/v3/reference/tickers``: filters, ``limit`` ≤ 1000 and Massive's paging, where
        ``next_url`` carries an opaque ``cursor`` that encodes the filters and the offset."""
        if (denied := self._denied(request)) is not None:
            return denied
        args = dict(request.query_params)
        if "cursor" in args:
            try:
                args = dict(parse_qsl(base64.urlsafe_b64decode(args["cursor"]).decode()))
            except (ValueError, UnicodeDecodeError):
                return JSONResponse({"status": "ERROR", "error": "bad cursor"}, 400)
        search = (args.get("search") or "").lower()
        exact, market = args.get("ticker"), args.get("market")
        limit = max(1, min(int(args.get("limit") or 100), 1000))
        offset = int(args.get("offset") or 0)
        candidates = [(s, s, False) for s in synth.STOCKS]
        candidates += [(f"X:{c.symbol}USD", c.symbol, True) for c in synth.LISTED_COINS]
        rows = []
        for ticker, sym, crypto in candidates:
            if exact is not None and ticker != exact:
                continue
            if market is not None and market != ("crypto" if crypto else "stocks"):
                continue
            row = self._ticker_row(ticker, sym, crypto)
            if search and search not in ticker.lower() and search not in row["name"].lower():
                continue
            rows.append(row)
        page = rows[offset : offset + limit]
        body: dict[str, Any] = {"status": "OK", "request_id": _request_id(request)}
        if page:  # an empty answer carries no "results" key
            body["results"] = page
        if offset + limit < len(rows):
            args.update(offset=str(offset + limit), limit=str(limit))
            cursor = base64.urlsafe_b64encode(urlencode(args).encode()).decode()
            body["next_url"] = str(request.url.replace(query=urlencode({"cursor": cursor})))
        return JSONResponse({**body, "count": len(page)})

    async def details(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        ticker = request.path_params["ticker"]
        known = _known(ticker)
        if known is None:
            body = {"status": "NOT_FOUND", "request_id": _request_id(request)}
            return JSONResponse({**body, "message": "Ticker not found."}, status_code=404)
        sym, crypto = known
        res = self._ticker_row(ticker, sym, crypto)
        if not crypto:
            company = synth.STOCKS[sym]
            price = synth.price_at(sym, self.now()) * self.factor()
            res |= {
                "description": f"{company.name} {synth.SYNTHETIC}: a synthetic profile.",
                "sic_description": company.industry.upper(),
                "homepage_url": f"https://sandbox.marketsvc.invalid/{sym.lower()}",
                "total_employees": company.employees,
                "list_date": "1990-01-02",
                "market_cap": round(company.shares * price, 2),
                "share_class_shares_outstanding": company.shares,
                "weighted_shares_outstanding": company.shares,
                "ticker_root": sym.split(".")[0],
            }
        return JSONResponse({"results": res, "status": "OK", "request_id": _request_id(request)})
