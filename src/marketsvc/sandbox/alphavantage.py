"""Alpha Vantage emulator: ``GET /query?function=...&apikey=...`` with SYNTHETIC data.

Like the real service it answers HTTP 200 to everything: errors are ``Error Message``,
``Information`` and ``Note`` bodies, unknown symbols an empty ``Global Quote`` / ``{}`` /
``Invalid API call``, and every value is a string. Bars are served once complete.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from marketsvc.config import DEFAULT_RATE_LIMITS
from marketsvc.sandbox import _synth as synth
from marketsvc.sandbox._framework import ProviderEmulator, qp
from marketsvc.symbols import TOP_COINS

EASTERN = ZoneInfo("US/Eastern")
DOCS = "https://www.alphavantage.co/documentation/"
PREMIUM = "https://www.alphavantage.co/premium/"
MISSING_KEY = (
    "the parameter apikey is invalid or missing. Please claim your free API key on "
    "(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."
)
DEMO_ONLY = (
    "The **demo** API key is for demo purposes only. Please claim your free API key at "
    "(https://www.alphavantage.co/support/#api-key) to explore our full API offerings. "
    "It takes fewer than 20 seconds."
)
DAILY_QUOTA = (
    "We have detected your API key as {key} and our standard API rate limit is 25 requests "
    f"per day. Please subscribe to any of the premium plans at {PREMIUM} to instantly remove "
    "all daily rate limits."
)
MINUTE_NOTE = (
    "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute "
    f"and 500 calls per day. Please visit {PREMIUM} if you would like to target a higher API "
    "call frequency."
)
PREMIUM_FULL = (
    "Thank you for using Alpha Vantage! The outputsize=full parameter value is a premium "
    "feature for the TIME_SERIES_DAILY endpoint. You may subscribe to any of the premium plans "
    f"at {PREMIUM} to instantly unlock all premium features"
)
PREMIUM_ENDPOINT = (
    "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any of "
    f"the premium plans at {PREMIUM} to instantly unlock all premium endpoints."
)
NEWS_INVALID = (
    "Invalid inputs. Please refer to the API documentation "
    "https://www.alphavantage.co/documentation#newsapi and try again."
)
COMPACT = 100


NO_FUNCTION = "This API function ({fn}) does not exist."
INVALID_CALL = "Invalid API call. Please retry or visit the documentation ({docs}) for {fn}."


def invalid_call(function: str) -> dict[str, str]:
    return {"Error Message": INVALID_CALL.format(docs=DOCS, fn=function)}


def stock_for(vendor: str) -> str | None:
    """Alpha Vantage writes share classes with a hyphen (``BRK-B``); the table with a dot."""
    base, dash, cls = vendor.upper().rpartition("-")
    candidate = f"{base}.{cls}" if dash and len(cls) == 1 else vendor.upper()
    return candidate if candidate in synth.STOCKS and "." not in vendor else None


def vendor_for(stock: str) -> str:
    return stock.replace(".", "-")


def monday_weeks(end: float, count: int) -> list[int]:
    """Starts (Monday 00:00 UTC) of the ``count`` weeks that ended by ``end``, oldest first."""
    days = math.floor(end / 86400)
    current = (days - (days + 3) % 7) * 86400  # 1970-01-01 was a Thursday; still running
    return [current - i * 7 * 86400 for i in range(count, 0, -1)]


def last_trading_day(t: float) -> float:
    day = math.floor(t / 86400) * 86400
    while not synth.is_trading_day(day):
        day -= 86400
    return day


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d")


class Emulator(ProviderEmulator):
    name = "alphavantage"
    default_limits = DEFAULT_RATE_LIMITS["alphavantage"]

    def routes(self) -> list[Route]:
        return [self.route("/query", self._query)]

    def throttled(self, request: Request, retry_after: float) -> Response:
        # Always HTTP 200: the daily quota as "Information" (quoting the key, as the vendor
        # does), a per-minute window as the legacy "Note".
        if retry_after > 60:
            key = qp(request, "apikey") or ""
            return JSONResponse({"Information": DAILY_QUOTA.format(key=key)})
        return JSONResponse({"Note": MINUTE_NOTE})

    def server_error(self, request: Request, status: int) -> Response:
        return HTMLResponse(
            f"<html><head><title>{status} Server Error</title></head>"
            f"<body><center><h1>{status}</h1></center></body></html>",
            status_code=status,
        )

    async def _query(self, request: Request) -> Response:
        function = qp(request, "function") or ""
        key = qp(request, "apikey")
        if not key:
            return JSONResponse({"Error Message": MISSING_KEY})
        if key == "demo" and qp(request, "symbol") != "IBM":
            return JSONResponse({"Information": DEMO_ONLY})
        handlers: dict[str, Callable[[Request, float], dict[str, Any]]] = {
            "GLOBAL_QUOTE": self._global_quote,
            "CURRENCY_EXCHANGE_RATE": self._exchange_rate,
            "TIME_SERIES_DAILY": self._stock_series,
            "TIME_SERIES_WEEKLY": self._stock_series,
            "TIME_SERIES_INTRADAY": self._stock_series,
            "DIGITAL_CURRENCY_DAILY": self._crypto_series,
            "DIGITAL_CURRENCY_WEEKLY": self._crypto_series,
            "NEWS_SENTIMENT": self._news,
            "OVERVIEW": self._overview,
            "SYMBOL_SEARCH": self._search,
        }
        if function in ("REALTIME_BULK_QUOTES", "CRYPTO_INTRADAY", "TIME_SERIES_DAILY_ADJUSTED"):
            return JSONResponse({"Information": PREMIUM_ENDPOINT})
        handler = handlers.get(function)
        if handler is None:
            return JSONResponse({"Error Message": NO_FUNCTION.format(fn=function)})
        return JSONResponse(handler(request, self.now()))

    # --- quotes -------------------------------------------------------------------------
    def _global_quote(self, request: Request, now: float) -> dict[str, Any]:
        stock = stock_for(qp(request, "symbol") or "")
        if stock is None:
            return {"Global Quote": {}}
        f = self.factor()
        day = last_trading_day(now)
        price = synth.price_at(stock, now) * f
        open_ = synth.price_at(stock, day) * f
        prev = synth.previous_close(stock, now) * f
        return {
            "Global Quote": {
                "01. symbol": vendor_for(stock),
                "02. open": f"{open_:.4f}",
                "03. high": f"{max(open_, price):.4f}",
                "04. low": f"{min(open_, price):.4f}",
                "05. price": f"{price:.4f}",
                "06. volume": str(int(synth.bar(stock, int(day), 86400).volume)),
                "07. latest trading day": _day(day),
                "08. previous close": f"{prev:.4f}",
                "09. change": f"{price - prev:.4f}",
                "10. change percent": f"{(price - prev) / prev * 100:.4f}%",
            }
        }

    def _exchange_rate(self, request: Request, now: float) -> dict[str, Any]:
        coin = (qp(request, "from_currency") or "").upper()
        if coin not in TOP_COINS or qp(request, "to_currency") != "USD":
            return invalid_call("CURRENCY_EXCHANGE_RATE")
        price = synth.price_at(coin, now) * self.factor()
        refreshed = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        return {
            "Realtime Currency Exchange Rate": {
                "1. From_Currency Code": coin,
                "2. From_Currency Name": TOP_COINS[coin].name,
                "3. To_Currency Code": "USD",
                "4. To_Currency Name": "United States Dollar",
                "5. Exchange Rate": f"{price:.8f}",
                "6. Last Refreshed": refreshed,
                "7. Time Zone": "UTC",
                "8. Bid Price": f"{price * 0.9999:.8f}",
                "9. Ask Price": f"{price * 1.0001:.8f}",
            }
        }

    # --- history ------------------------------------------------------------------------
    def _stock_series(self, request: Request, now: float) -> dict[str, Any]:
        function = qp(request, "function") or ""
        stock = stock_for(qp(request, "symbol") or "")
        if stock is None:
            return invalid_call(function)
        if function == "TIME_SERIES_DAILY" and qp(request, "outputsize") == "full":
            return {"Information": PREMIUM_FULL}
        vendor = vendor_for(stock)
        if function == "TIME_SERIES_WEEKLY":
            # Monday-Sunday weeks keyed by their Friday, as the vendor keys a trading week.
            weeks = monday_weeks(now, 520)
            rows = [(_day(w + 4 * 86400), synth.bar(stock, w, 7 * 86400)) for w in weeks]
            series_key = "Weekly Time Series"
            meta = {
                "1. Information": "Weekly Prices (open, high, low, close) and Volumes",
                "2. Symbol": vendor,
                "3. Last Refreshed": rows[-1][0],
                "4. Time Zone": "US/Eastern",
            }
        elif function == "TIME_SERIES_DAILY":
            bars = synth.bars(stock, int(now) - 160 * 86400, int(now), 86400, stock=True)
            rows = [(_day(b.start), b) for b in bars if b.start + 86400 <= now][-COMPACT:]
            series_key = "Time Series (Daily)"
            meta = {
                "1. Information": "Daily Prices (open, high, low, close) and Volumes",
                "2. Symbol": vendor,
                "3. Last Refreshed": rows[-1][0] if rows else "",
                "4. Output Size": "Compact",
                "5. Time Zone": "US/Eastern",
            }
        else:
            interval = qp(request, "interval") or ""
            minutes = {"1min": 1, "5min": 5, "15min": 15, "30min": 30, "60min": 60}.get(interval)
            if minutes is None:
                return invalid_call(function)
            seconds = minutes * 60
            lookback = int(now) - max(5, minutes // 2) * 86400
            bars = synth.bars(stock, lookback, int(now), seconds, stock=True)
            local = [
                (datetime.fromtimestamp(b.start, tz=EASTERN).strftime("%Y-%m-%d %H:%M:%S"), b)
                for b in bars
                if b.start + seconds <= now
            ]
            rows = local[-COMPACT:]
            series_key = f"Time Series ({interval})"
            meta = {
                "1. Information": f"Intraday ({interval}) open, high, low, close prices and volume",
                "2. Symbol": vendor,
                "3. Last Refreshed": rows[-1][0] if rows else "",
                "4. Interval": interval,
                "5. Output Size": "Compact",
                "6. Time Zone": "US/Eastern",
            }
        f = self.factor()
        series = {
            stamp: {
                "1. open": f"{b.open * f:.4f}",
                "2. high": f"{b.high * f:.4f}",
                "3. low": f"{b.low * f:.4f}",
                "4. close": f"{b.close * f:.4f}",
                "5. volume": str(int(b.volume)),
            }
            for stamp, b in reversed(rows)  # the vendor lists newest first
        }
        return {"Meta Data": meta, series_key: series}

    def _crypto_series(self, request: Request, now: float) -> dict[str, Any]:
        function = qp(request, "function") or ""
        coin = (qp(request, "symbol") or "").upper()
        if coin not in TOP_COINS or qp(request, "market") != "USD":
            return invalid_call(function)
        if function == "DIGITAL_CURRENCY_WEEKLY":
            # Weeks run Monday-Sunday; the vendor keys each by its last day.
            rows = [
                (_day(w + 6 * 86400), synth.bar(coin, w, 7 * 86400)) for w in monday_weeks(now, 260)
            ]
            label = "Weekly"
        else:
            first = int(now) - 365 * 86400
            bars = synth.bars(coin, first, int(now), 86400, stock=False)
            rows = [(_day(b.start), b) for b in bars if b.start + 86400 <= now]
            label = "Daily"
        f = self.factor()
        return {
            "Meta Data": {
                "1. Information": f"{label} Prices and Volumes for Digital Currency",
                "2. Digital Currency Code": coin,
                "3. Digital Currency Name": TOP_COINS[coin].name,
                "4. Market Code": "USD",
                "5. Market Name": "United States Dollar",
                "6. Last Refreshed": rows[-1][0] if rows else "",
                "7. Time Zone": "UTC",
            },
            f"Time Series (Digital Currency {label})": {
                stamp: {
                    "1. open": f"{b.open * f:.8f}",
                    "2. high": f"{b.high * f:.8f}",
                    "3. low": f"{b.low * f:.8f}",
                    "4. close": f"{b.close * f:.8f}",
                    "5. volume": f"{b.volume:.8f}",
                }
                for stamp, b in reversed(rows)
            },
        }

    # --- news, fundamentals, search -------------------------------------------------------
    def _news(self, request: Request, now: float) -> dict[str, Any]:
        tickers = [t for t in (qp(request, "tickers") or "").split(",") if t]
        for t in tickers:
            if not (t.removeprefix("CRYPTO:") in TOP_COINS or stock_for(t)):
                return {"Information": NEWS_INVALID}
        topic = (qp(request, "topics") or "financial_markets").split(",")[0]
        subject = tickers[0].removeprefix("CRYPTO:") if tickers else topic
        if tickers and stock_for(tickers[0]):
            subject = str(stock_for(tickers[0]))
        limit = int(qp(request, "limit") or "50")
        feed = [
            {
                "title": a.title,
                "url": a.url,
                "time_published": datetime.fromtimestamp(a.published, tz=UTC).strftime(
                    "%Y%m%dT%H%M%S"
                ),
                "authors": ["Sandbox Desk"],
                "summary": a.summary,
                "banner_image": None,
                "source": a.source_name,
                "category_within_source": "n/a",
                "source_domain": "sandbox.marketsvc.invalid",
                "topics": [{"topic": topic, "relevance_score": "1.0"}],
                "overall_sentiment_score": 0.05,
                "overall_sentiment_label": "Neutral",
                "ticker_sentiment": [
                    {"ticker": t, "relevance_score": "0.9", "ticker_sentiment_score": "0.05"}
                    for t in tickers
                ],
            }
            for a in synth.articles(subject, now, limit)
        ]
        return {
            "items": str(len(feed)),
            "sentiment_score_definition": "x <= -0.35: Bearish; ... (synthetic)",
            "relevance_score_definition": "0 < x <= 1 (synthetic)",
            "feed": feed,
        }

    def _overview(self, request: Request, now: float) -> dict[str, Any]:
        stock = stock_for(qp(request, "symbol") or "")
        if stock is None:
            return {}
        c = synth.STOCKS[stock]
        price = synth.price_at(stock, now) * self.factor()
        seed = sum(map(ord, stock))
        pe = 15.0 + seed % 25
        return {
            "Symbol": vendor_for(stock),
            "AssetType": "ETF" if c.employees == 0 else "Common Stock",
            "Name": f"{c.name} {synth.SYNTHETIC}",
            "Description": f"{c.name} {synth.SYNTHETIC}: generated profile for testing.",
            "CIK": "None",
            "Exchange": c.exchange,
            "Currency": "USD",
            "Country": "USA",
            "Sector": c.sector,
            "Industry": c.industry,
            "Address": "None",
            "OfficialSite": "None",
            "FullTimeEmployees": str(c.employees) if c.employees else "None",
            "FiscalYearEnd": "December",
            "LatestQuarter": _day(last_trading_day(now - 45 * 86400)),
            "MarketCapitalization": str(int(c.shares * price)),
            "PERatio": f"{pe:.2f}",
            "EPS": f"{price / pe:.2f}",
            "DividendYield": "None",
            "Beta": f"{0.6 + (seed % 10) / 10:.3f}",
            "52WeekHigh": f"{c.base_price * 1.08:.2f}",
            "52WeekLow": f"{c.base_price * 0.92:.2f}",
            "ForwardPE": "None",
            "SharesOutstanding": str(int(c.shares)),
        }

    def _search(self, request: Request, now: float) -> dict[str, Any]:
        q = (qp(request, "keywords") or "").strip().lower()
        hits = []
        for c in synth.STOCKS.values():
            exact = c.symbol.lower() == q or vendor_for(c.symbol).lower() == q
            if q and (exact or c.symbol.lower().startswith(q) or q in c.name.lower()):
                hits.append((1.0 if exact else 0.5, c))
        hits.sort(key=lambda h: (-h[0], h[1].symbol))
        return {
            "bestMatches": [
                {
                    "1. symbol": vendor_for(c.symbol),
                    "2. name": f"{c.name} {synth.SYNTHETIC}",
                    "3. type": "ETF" if c.employees == 0 else "Equity",
                    "4. region": "United States",
                    "5. marketOpen": "09:30",
                    "6. marketClose": "16:00",
                    "7. timezone": "UTC-04",
                    "8. currency": "USD",
                    "9. matchScore": f"{score:.4f}",
                }
                for score, c in hits[:10]
            ]
        }
