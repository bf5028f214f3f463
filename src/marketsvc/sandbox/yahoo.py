"""Yahoo Finance emulator: chart, quote, quoteSummary, search and getcrumb with SYNTHETIC data.

As on the real (unofficial) service: chart and search need no crumb; v7 quote and v10
quoteSummary answer 401 "Invalid Crumb" unless ``crumb`` is the one getcrumb issued (it rotates
daily here, so a test can expire it by moving the clock); throttling is a plain-text 429
without Retry-After; an outage is the HTML "Will be right back" page. Day and week bars are
stamped at the session open (14:30 UTC for stocks), the in-progress bar has null prices.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from marketsvc.config import DEFAULT_RATE_LIMITS
from marketsvc.domain import AssetClass
from marketsvc.sandbox import _synth as synth
from marketsvc.sandbox._framework import ProviderEmulator, qp
from marketsvc.symbols import TOP_COINS

SESSION_OPEN = 14 * 3600 + 1800  # the synthetic calendar's fixed 09:30 New York (EST)
EST_OFFSET = -5 * 3600
# Yahoo disambiguates coins whose ticker is taken with their CoinMarketCap id.
CMC_SUFFIXED = frozenset({"UNI", "SUI", "APT", "POL", "ARB", "TON"})
# Coins only Yahoo's search knows here: they exercise the adapter's lookup path.
EXTRA_COINS = {"PEPE": ("Pepe", "PEPE24478-USD"), "AAVE": ("Aave", "AAVE-USD")}
INTERVALS = {"1m": 60, "2m": 120, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600, "1h": 3600}
DAILY = {"1d": 86400, "1wk": 7 * 86400}
RANGES = {"1d": 1, "5d": 5, "1mo": 30, "3mo": 91, "6mo": 182, "1y": 365, "2y": 730, "5y": 1826}
INVALID_CRUMB = {
    "finance": {"result": None, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}
}
OUTAGE_PAGE = (
    "<!doctype html><html><head><title>Yahoo</title></head><body><h1>Will be right back...</h1>"
    "<p>Thank you for your patience. Our engineers are working quickly to resolve the issue.</p>"
    "</body></html>"
)


def yahoo_symbol(symbol: str, asset_class: AssetClass) -> str:
    if asset_class is AssetClass.STOCK:
        return symbol.replace(".", "-")
    if symbol in EXTRA_COINS:
        return EXTRA_COINS[symbol][1]
    cmc = TOP_COINS[symbol].cmc_id
    return f"{symbol}{cmc}-USD" if symbol in CMC_SUFFIXED else f"{symbol}-USD"


def resolve(vendor: str) -> tuple[str, AssetClass] | None:
    """A Yahoo symbol this emulator knows → (synthetic-data symbol, asset class)."""
    for coin in (*TOP_COINS, *EXTRA_COINS):
        if vendor == yahoo_symbol(coin, AssetClass.CRYPTO):
            return coin, AssetClass.CRYPTO
    base, dash, cls = vendor.rpartition("-")
    stock = f"{base}.{cls}" if dash and len(cls) == 1 else vendor
    if stock in synth.STOCKS and "." not in vendor:
        return stock, AssetClass.STOCK
    return None


def mondays(start: int, end: int) -> list[int]:
    """Week starts (Monday 00:00 UTC) in [start, end); 1970-01-01 was a Thursday."""
    day = math.ceil(start / 86400)
    first = (day + (-(day + 3)) % 7) * 86400
    return list(range(first, end, 7 * 86400))


def crumb_for(now: float) -> str:
    return "sbx" + hashlib.sha256(f"crumb:{math.floor(now / 86400)}".encode()).hexdigest()[:8]


def _name(symbol: str, asset_class: AssetClass) -> str:
    if asset_class is AssetClass.STOCK:
        return f"{synth.STOCKS[symbol].name} {synth.SYNTHETIC}"
    name = EXTRA_COINS[symbol][0] if symbol in EXTRA_COINS else TOP_COINS[symbol].name
    return f"{name} USD {synth.SYNTHETIC}"


def not_found(envelope: str, description: str) -> JSONResponse:
    error = {"code": "Not Found", "description": description}
    return JSONResponse({envelope: {"result": None, "error": error}}, status_code=404)


def unprocessable(description: str) -> JSONResponse:
    error = {"code": "Unprocessable Entity", "description": description}
    return JSONResponse({"chart": {"result": None, "error": error}}, status_code=422)


class Emulator(ProviderEmulator):
    name = "yahoo"
    default_limits = DEFAULT_RATE_LIMITS["yahoo"]

    def routes(self) -> list[Route]:
        return [
            self.route("/v8/finance/chart/{symbol}", self._chart),
            self.route("/v7/finance/quote", self._quote),
            self.route("/v10/finance/quoteSummary/{symbol}", self._summary),
            self.route("/v1/finance/search", self._search),
            self.route("/v1/test/getcrumb", self._getcrumb),
        ]

    def throttled(self, request: Request, retry_after: float) -> Response:
        return PlainTextResponse("Too Many Requests\r\n", status_code=429)

    def server_error(self, request: Request, status: int) -> Response:
        return HTMLResponse(OUTAGE_PAGE, status_code=status)

    async def _getcrumb(self, request: Request) -> Response:
        response = PlainTextResponse(crumb_for(self.now()))
        response.set_cookie("A3", "d=sandbox&S=synthetic", httponly=True)
        return response

    def _crumb_ok(self, request: Request) -> bool:
        return qp(request, "crumb") == crumb_for(self.now())

    # --- quotes ---------------------------------------------------------------------------
    def _day_figures(self, symbol: str, now: float) -> dict[str, float]:
        f = self.factor()
        day = math.floor(now / 86400) * 86400
        price = synth.price_at(symbol, now) * f
        open_ = synth.price_at(symbol, day) * f
        return {
            "price": price,
            "open": open_,
            "high": max(open_, price),
            "low": min(open_, price),
            "prev": synth.previous_close(symbol, now) * f,
            "volume": float(int(synth.bar(symbol, int(day), 86400).volume)),
        }

    async def _quote(self, request: Request) -> Response:
        if not self._crumb_ok(request):
            return JSONResponse(INVALID_CRUMB, status_code=401)
        now = self.now()
        rows = []
        for vendor in (qp(request, "symbols") or "").split(","):
            known = resolve(vendor.strip())
            if known is None:
                continue  # Yahoo silently leaves unknown symbols out
            symbol, cls = known
            d = self._day_figures(symbol, now)
            crypto = cls is AssetClass.CRYPTO
            rows.append(
                {
                    "language": "en-US",
                    "region": "US",
                    "quoteType": "CRYPTOCURRENCY" if crypto else "EQUITY",
                    "typeDisp": "Cryptocurrency" if crypto else "Equity",
                    "currency": "USD",
                    "marketState": "REGULAR",
                    "exchange": "CCC" if crypto else "NMS",
                    "fullExchangeName": "CCC" if crypto else "NasdaqGS",
                    "shortName": _name(symbol, cls),
                    "longName": _name(symbol, cls),
                    "regularMarketPrice": d["price"],
                    "regularMarketChange": d["price"] - d["prev"],
                    "regularMarketChangePercent": (d["price"] - d["prev"]) / d["prev"] * 100,
                    "regularMarketTime": int(now),
                    "regularMarketOpen": d["open"],
                    "regularMarketDayHigh": d["high"],
                    "regularMarketDayLow": d["low"],
                    "regularMarketVolume": d["volume"],
                    "regularMarketPreviousClose": d["prev"],
                    "marketCap": d["price"]
                    * (synth.STOCKS[symbol].shares if not crypto else 1.9e7),
                    "exchangeTimezoneName": "UTC" if crypto else "America/New_York",
                    "gmtOffSetMilliseconds": 0 if crypto else EST_OFFSET * 1000,
                    "priceHint": 2,
                    "symbol": vendor.strip(),
                }
            )
        return JSONResponse({"quoteResponse": {"result": rows, "error": None}})

    # --- chart ----------------------------------------------------------------------------
    async def _chart(self, request: Request) -> Response:
        vendor = request.path_params["symbol"]
        known = resolve(vendor)
        if known is None:
            return not_found("chart", "No data found, symbol may be delisted")
        symbol, cls = known
        now = self.now()
        interval = qp(request, "interval") or "1d"
        seconds = INTERVALS.get(interval) or DAILY.get(interval)
        if seconds is None:
            return unprocessable(f"Invalid input - interval={interval} is not supported.")
        range_ = qp(request, "range")
        if range_ is not None:
            if range_ not in RANGES:
                return unprocessable(f"Invalid input - range={range_} is not supported.")
            p1, p2 = math.floor(now / 86400 - RANGES[range_] + 1) * 86400, int(now) + 1
        else:
            p1 = int(float(qp(request, "period1") or now - 86400))
            p2 = int(float(qp(request, "period2") or now))
        if interval == "1m" and p1 < now - 30 * 86400:
            return unprocessable(
                f"1m data not available for startTime={p1} and endTime={p2}. "
                "The requested range must be within the last 30 days."
            )
        stamps, rows = self._bars(symbol, cls, p1, p2, seconds, now, live=range_ is not None)
        f = self.factor()
        d = self._day_figures(symbol, now)
        stock = cls is AssetClass.STOCK
        meta = {
            "currency": "USD",
            "symbol": vendor,
            "exchangeName": "NMS" if stock else "CCC",
            "fullExchangeName": "NasdaqGS" if stock else "CCC",
            "instrumentType": "EQUITY" if stock else "CRYPTOCURRENCY",
            "firstTradeDate": 345479400 if stock else 1410912000,
            "regularMarketTime": int(now),
            "hasPrePostMarketData": stock,
            "gmtoffset": EST_OFFSET if stock else 0,
            "timezone": "EST" if stock else "UTC",
            "exchangeTimezoneName": "America/New_York" if stock else "UTC",
            "regularMarketPrice": d["price"],
            "fiftyTwoWeekHigh": synth.base_price(symbol) * 1.08 * f,
            "fiftyTwoWeekLow": synth.base_price(symbol) * 0.92 * f,
            "regularMarketDayHigh": d["high"],
            "regularMarketDayLow": d["low"],
            "regularMarketVolume": d["volume"],
            "longName": _name(symbol, cls),
            "shortName": _name(symbol, cls),
            "chartPreviousClose": d["prev"],
            "previousClose": d["prev"],
            "priceHint": 2,
            "dataGranularity": interval,
            "range": range_ or "",
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        }
        result: dict[str, Any] = {"meta": meta}
        if stamps:  # Yahoo leaves the arrays out when no bar falls in the range
            result["timestamp"] = stamps
            result["indicators"] = {"quote": [rows], "adjclose": [{"adjclose": rows["close"]}]}
        return JSONResponse({"chart": {"result": [result], "error": None}})

    def _bars(
        self,
        symbol: str,
        cls: AssetClass,
        p1: int,
        p2: int,
        seconds: int,
        now: float,
        *,
        live: bool,
    ) -> tuple[list[int], dict[str, list[float | None]]]:
        stock = cls is AssetClass.STOCK
        if seconds == 7 * 86400:
            bars = [synth.bar(symbol, w, seconds) for w in mondays(p1, p2)]
        else:
            bars = synth.bars(symbol, p1, p2, seconds, stock=stock)
        f = self.factor()
        shift = SESSION_OPEN if stock and seconds >= 86400 else 0
        stamps: list[int] = []
        cols: dict[str, list[float | None]] = {
            k: [] for k in ("open", "high", "low", "close", "volume")
        }
        for b in bars:
            if b.start > now:
                break
            complete = b.start + seconds <= now
            if not complete and live:  # the current bar so far, as a quote-range chart shows it
                d = self._day_figures(symbol, now)
                values: list[float | None] = [
                    d["open"],
                    d["high"],
                    d["low"],
                    d["price"],
                    d["volume"],
                ]
            elif not complete:  # Yahoo often sends the in-progress row as nulls
                values = [None] * 5
            else:
                values = [b.open * f, b.high * f, b.low * f, b.close * f, float(int(b.volume))]
            stamps.append(b.start + shift)
            for key, value in zip(cols, values, strict=True):
                cols[key].append(value)
        return stamps, cols

    # --- fundamentals, search ---------------------------------------------------------------
    async def _summary(self, request: Request) -> Response:
        if not self._crumb_ok(request):
            return JSONResponse(INVALID_CRUMB, status_code=401)
        vendor = request.path_params["symbol"]
        known = resolve(vendor)
        if known is None or known[1] is not AssetClass.STOCK:
            return not_found("quoteSummary", f"Quote not found for symbol: {vendor}")
        symbol = known[0]
        c = synth.STOCKS[symbol]
        price = synth.price_at(symbol, self.now()) * self.factor()
        seed = sum(map(ord, symbol))
        raw = qp(request, "formatted") == "false"

        def v(x: float) -> Any:  # formatted answers wrap every number as {"raw","fmt"}
            return x if raw else {"raw": x, "fmt": f"{x:,.2f}"}

        modules = {
            "assetProfile": {
                "country": "United States",
                "website": f"https://{symbol.lower().replace('.', '')}.sandbox.invalid",
                "industry": c.industry,
                "sector": c.sector,
                "longBusinessSummary": f"{c.name} {synth.SYNTHETIC}: a generated profile.",
                "fullTimeEmployees": c.employees,
                "companyOfficers": [],
                "maxAge": 86400,
            },
            "summaryDetail": {
                "previousClose": v(synth.previous_close(symbol, self.now())),
                "trailingPE": v(15.0 + seed % 25),
                "forwardPE": v(14.0 + seed % 20),
                "dividendYield": v(round((seed % 30) / 1000, 4)),
                "beta": v(0.6 + (seed % 10) / 10),
                "marketCap": v(c.shares * price),
                "fiftyTwoWeekHigh": v(c.base_price * 1.08),
                "fiftyTwoWeekLow": v(c.base_price * 0.92),
                "currency": "USD",
            },
            "price": {
                "longName": f"{c.name} {synth.SYNTHETIC}",
                "shortName": c.name,
                "exchangeName": c.exchange,
                "quoteType": "ETF" if c.employees == 0 else "EQUITY",
                "currency": "USD",
                "regularMarketPrice": v(price),
            },
            "defaultKeyStatistics": {
                "sharesOutstanding": v(c.shares),
                "trailingEps": v(round(price / (15.0 + seed % 25), 2)),
            },
        }
        wanted = (qp(request, "modules") or "").split(",")
        picked = {k: m for k, m in modules.items() if k in wanted}
        return JSONResponse({"quoteSummary": {"result": [picked], "error": None}})

    async def _search(self, request: Request) -> Response:
        q = (qp(request, "q") or "").strip()
        now = self.now()
        quotes_count = int(qp(request, "quotesCount") or "6")
        news_count = int(qp(request, "newsCount") or "8")
        low, quotes = q.lower(), []
        for s in synth.STOCKS:
            name = _name(s, AssetClass.STOCK)
            if low and (s.lower().startswith(low) or low in name.lower()):
                quotes.append((s, AssetClass.STOCK, name))
        for coin in (*TOP_COINS, *EXTRA_COINS):
            name = _name(coin, AssetClass.CRYPTO)
            if low and (coin.lower() == low or low in name.lower()):
                quotes.append((coin, AssetClass.CRYPTO, name))
        known = resolve(q)
        subject = known[0] if known else q
        related = [q] if known else []
        return JSONResponse(
            {
                "explains": [],
                "count": len(quotes[:quotes_count]),
                "quotes": [
                    {
                        "exchange": "CCC" if cls is AssetClass.CRYPTO else "NMS",
                        "shortname": name,
                        "longname": name,
                        "quoteType": "CRYPTOCURRENCY" if cls is AssetClass.CRYPTO else "EQUITY",
                        "symbol": yahoo_symbol(s, cls),
                        "index": "quotes",
                        "score": 20000 - i,
                        "isYahooFinance": True,
                    }
                    for i, (s, cls, name) in enumerate(quotes[:quotes_count])
                ],
                "news": [
                    {
                        "uuid": hashlib.sha256(a.url.encode()).hexdigest()[:32],
                        "title": a.title,
                        "publisher": a.source_name,
                        "link": a.url,
                        "providerPublishTime": a.published,
                        "type": "STORY",
                        "relatedTickers": related,
                    }
                    for a in (synth.articles(subject, now, news_count) if news_count else [])
                ],
                "nav": [],
                "lists": [],
                "researchReports": [],
            }
        )
