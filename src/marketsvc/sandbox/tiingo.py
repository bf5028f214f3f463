"""Tiingo emulator: the REST paths and JSON shapes the adapter uses, answered with
deterministic synthetic data.

Real quirks reproduced: bare JSON lists (no envelope), ISO time strings with offsets, null
``last`` on IEX without an exchange agreement (``tngoLast`` filled), lower-case ``btcusd``
crypto tickers, hyphenated share classes (``brk-b``), DRF-style ``{"detail": ...}`` errors,
and quota messages as plain text with HTTP 200.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from marketsvc import config
from marketsvc.sandbox import _synth as synth
from marketsvc.sandbox._framework import ProviderEmulator, qp
from marketsvc.symbols import TOP_COINS

_EASTERN = ZoneInfo("America/New_York")
_FREQ = re.compile(r"^(\d+)(min|hour|day)$")
_NAMED_FREQ = {"daily": 86400, "weekly": 7 * 86400}
_UNITS = {"min": 60, "hour": 3600, "day": 86400}
_CSV_COLUMNS = ("ticker", "exchange", "assetType", "priceCurrency", "startDate", "endDate")
_NO_DATA = {"detail": "Error: resampleFreq or dates are invalid"}


def _stock(ticker: str) -> str | None:
    """Synthetic symbol of a Tiingo equity ticker (``brk-b`` → ``BRK.B``), if known."""
    sym = ticker.upper().replace("-", ".")
    return sym if synth.is_stock(sym) else None


def _coin(ticker: str) -> str | None:
    low = ticker.lower()
    if low.endswith("usd") and synth.is_crypto(low[:-3]):
        return low[:-3].upper()
    return None


def _iso(t: float, tz: Any = UTC) -> str:
    return datetime.fromtimestamp(t, tz=tz).isoformat()


def _iso_z(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _tickers(request: Request) -> list[str]:
    return [t.strip().lower() for t in (qp(request, "tickers") or "").split(",") if t.strip()]


def _freq_seconds(value: str | None) -> int:
    text = (value or "").lower()
    if text in _NAMED_FREQ:
        return _NAMED_FREQ[text]
    match = _FREQ.match(text)
    if match is None:
        raise ValueError(text)
    return int(match.group(1)) * _UNITS[match.group(2)]


def _range(request: Request) -> tuple[int, int]:
    """startDate/endDate (whole UTC days, end inclusive) as [start, end) epoch seconds."""
    first = date.fromisoformat(qp(request, "startDate") or "")
    last = date.fromisoformat(qp(request, "endDate") or first.isoformat())
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


class Emulator(ProviderEmulator):
    name = "tiingo"
    default_limits = config.DEFAULT_RATE_LIMITS["tiingo"]

    def routes(self) -> list[Route]:
        return [
            self.route("/api/test", self.test),
            self.route("/iex", self.iex),
            self.route("/iex/{ticker}/prices", self.iex_prices),
            self.route("/tiingo/daily/{ticker}", self.meta),
            self.route("/tiingo/daily/{ticker}/prices", self.eod),
            self.route("/tiingo/crypto", self.crypto_meta),
            self.route("/tiingo/crypto/top", self.crypto_top),
            self.route("/tiingo/crypto/prices", self.crypto_prices),
            self.route("/tiingo/news", self.news),
            self.route("/tiingo/utilities/search", self.search),
            # Real host: apimedia.tiingo.com (a static file, no key); served here under the
            # emulated base, which is where the adapter looks when its base URL is overridden.
            self.route("/docs/tiingo/daily/supported_tickers.zip", self.supported_tickers),
        ]

    # --- vendor behaviour ----------------------------------------------------------------
    def throttled(self, request: Request, retry_after: float) -> Response:
        # Tiingo's quota answer is plain text, and has come with HTTP 200 (tiingo-python#45).
        window = "hourly" if retry_after <= 3600 else "daily"
        return PlainTextResponse(
            f"You have run over your {window} request allocation. Please upgrade at "
            "https://api.tiingo.com/pricing to have your limits increased."
        )

    def server_error(self, request: Request, status: int) -> Response:
        # Django's stock error page.
        return HTMLResponse(f"<h1>Server Error ({status})</h1>", status_code=status)

    def _denied(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if (auth.startswith("Token ") and auth[6:].strip()) or qp(request, "token"):
            return None
        detail = {"detail": "Authentication credentials were not provided."}
        return JSONResponse(detail, status_code=401)

    @staticmethod
    def _not_found(ticker: str) -> Response:
        return JSONResponse({"detail": f"Error: Ticker '{ticker}' not found"}, status_code=404)

    def _price(self, sym: str, t: float) -> float:
        return round(synth.price_at(sym, t) * self.factor(), 8)

    def _ohlc(self, b: synth.Bar) -> dict[str, float]:
        f = self.factor()
        return {
            "open": round(b.open * f, 8),
            "high": round(b.high * f, 8),
            "low": round(b.low * f, 8),
            "close": round(b.close * f, 8),
        }

    # --- endpoints -----------------------------------------------------------------------
    async def test(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        return JSONResponse({"message": "You successfully sent a request"})

    async def iex(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        wanted = _tickers(request) or [s.lower().replace(".", "-") for s in synth.STOCKS]
        now = math.floor(self.now() * 1000) / 1000.0
        day_start = math.floor(now / 86400) * 86400
        rows = []
        for ticker in wanted:
            sym = _stock(ticker)
            if sym is None:
                continue  # unknown tickers are simply left out
            price = self._price(sym, now)
            today = synth.bar(sym, day_start, max(60, int(now) - day_start))
            ohlc = self._ohlc(today)
            rows.append(
                {
                    "ticker": sym.replace(".", "-"),
                    "timestamp": _iso(now, _EASTERN),
                    "quoteTimestamp": None,
                    "lastSaleTimestamp": None,
                    # Without an IEX exchange agreement these stay null.
                    "last": None,
                    "lastSize": None,
                    "tngoLast": price,
                    "prevClose": self._price(sym, day_start - 60),
                    "open": ohlc["open"],
                    "high": max(ohlc["high"], price),
                    "low": min(ohlc["low"], price),
                    "mid": None,
                    "volume": 0,
                    "bidSize": None,
                    "bidPrice": None,
                    "askSize": None,
                    "askPrice": None,
                }
            )
        return JSONResponse(rows)

    def _bars(self, request: Request, sym: str, *, stock: bool) -> list[synth.Bar] | None:
        try:
            seconds = _freq_seconds(qp(request, "resampleFreq"))
            start, end = _range(request)
        except ValueError:
            return None
        # Only bars that have closed: the synthetic walk must not leak future prices.
        end = min(end, math.floor(self.now() / seconds) * seconds)
        return synth.bars(sym, start, end, seconds, stock=stock)

    async def iex_prices(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        ticker = request.path_params["ticker"]
        sym = _stock(ticker)
        if sym is None:
            return self._not_found(ticker)
        found = self._bars(request, sym, stock=True)
        if found is None:
            return JSONResponse(_NO_DATA, status_code=400)
        with_volume = "volume" in (qp(request, "columns") or "")
        rows = []
        for b in found:
            row: dict[str, Any] = {"date": _iso_z(b.start), **self._ohlc(b)}
            if with_volume:
                row["volume"] = round(b.volume)
            rows.append(row)
        return JSONResponse(rows)

    async def eod(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        ticker = request.path_params["ticker"]
        sym = _stock(ticker)
        if sym is None:
            return self._not_found(ticker)
        if qp(request, "startDate") is None:  # no dates: the latest end-of-day row
            day = math.floor(self.now() / 86400) * 86400 - 86400
            while not synth.is_trading_day(day):
                day -= 86400
            found: list[synth.Bar] | None = [synth.bar(sym, day, 86400)]
        else:
            found = self._bars(request, sym, stock=True)
        if found is None:
            return JSONResponse(_NO_DATA, status_code=400)
        rows = []
        for b in found:
            ohlc = self._ohlc(b)
            adjusted = {f"adj{k.title()}": v for k, v in ohlc.items()}
            volume = round(b.volume)
            rows.append(
                {"date": _iso_z(b.start), **ohlc, "volume": volume, **adjusted}
                | {"adjVolume": volume, "divCash": 0.0, "splitFactor": 1.0}
            )
        return JSONResponse(rows)

    async def meta(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        ticker = request.path_params["ticker"]
        sym = _stock(ticker)
        if sym is None:
            return self._not_found(ticker)
        company = synth.STOCKS[sym]
        today = datetime.fromtimestamp(self.now(), tz=UTC).date()
        return JSONResponse(
            {
                "ticker": sym.replace(".", "-"),
                "name": company.name,
                "exchangeCode": company.exchange,
                "startDate": "1990-01-02",
                "endDate": today.isoformat(),
                "description": f"{company.name} {synth.SYNTHETIC}: a synthetic profile.",
            }
        )

    async def crypto_meta(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        rows = []
        for ticker in _tickers(request) or [f"{s.lower()}usd" for s in TOP_COINS]:
            base = _coin(ticker)
            if base is not None:
                name = TOP_COINS[base].name
                rows.append(
                    {
                        "ticker": ticker,
                        "baseCurrency": base.lower(),
                        "quoteCurrency": "usd",
                        "name": f"{name}({base}/USD)",
                        "description": "",
                    }
                )
        return JSONResponse(rows)

    async def crypto_top(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        now = math.floor(self.now() * 1000) / 1000.0
        rows = []
        for ticker in _tickers(request):
            base = _coin(ticker)
            if base is None:
                continue
            price = self._price(base, now)
            book = {
                "askPrice": round(price * 1.0002, 8),
                "askSize": 0.5,
                "askExchange": "GEMINI",
                "bidPrice": round(price * 0.9998, 8),
                "bidSize": 1.25,
                "bidExchange": "BITSTAMP",
                "lastPrice": price,
                "lastSize": 0.01,
                "lastSizeNotional": round(price * 0.01, 8),
                "lastExchange": "BINANCE",
                "lastSaleTimestamp": _iso(now),
                "quoteTimestamp": _iso(now),
            }
            rows.append(
                {
                    "ticker": ticker,
                    "baseCurrency": base.lower(),
                    "quoteCurrency": "usd",
                    "topOfBookData": [book],
                }
            )
        return JSONResponse(rows)

    async def crypto_prices(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        rows = []
        for ticker in _tickers(request):
            base = _coin(ticker)
            if base is None:
                continue
            found = self._bars(request, base, stock=False)
            if found is None:
                return JSONResponse(_NO_DATA, status_code=400)
            data = [
                {
                    "date": _iso(b.start),
                    **self._ohlc(b),
                    "volume": b.volume,
                    "volumeNotional": round(b.volume * b.close, 4),
                    "tradesDone": int(b.volume // 10) + 1,
                }
                for b in found
            ]
            rows.append(
                {
                    "ticker": ticker,
                    "baseCurrency": base.lower(),
                    "quoteCurrency": "usd",
                    "priceData": data,
                }
            )
        return JSONResponse(rows)

    async def news(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        wanted = _tickers(request)
        limit = max(1, min(int(qp(request, "limit", "100") or 100), 1000))
        # The emulator writes about the first ticker asked for (or the market in general).
        first = wanted[0] if wanted else None
        topic = (_stock(first) or _coin(first)) if first else "markets"
        if topic is None:
            return JSONResponse([])
        rows = [
            {
                "id": int(a.published // 3600),
                "publishedDate": _iso_z(a.published).replace(".000Z", "Z"),
                "crawlDate": _iso(a.published + 300),
                "title": a.title,
                "url": a.url,
                "description": a.summary,
                "source": "sandbox.marketsvc.invalid",
                "tickers": [first] if first else [t.lower() for t in a.tickers],
                "tags": ["Synthetic"],
            }
            for a in synth.articles(topic, self.now(), min(limit, 100))
        ]
        return JSONResponse(rows)

    async def supported_tickers(self, request: Request) -> Response:
        """The symbol list: a zip holding ``supported_tickers.csv`` with Tiingo's columns.
        Besides the current US listings it carries the rows a reader must skip, as the real
        file does: delisted tickers (an old ``endDate``), foreign exchanges, mutual funds and
        rows with no dates."""
        today = datetime.fromtimestamp(self.now(), tz=UTC).date().isoformat()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["ticker", "exchange", "assetType", "priceCurrency", "startDate", "endDate"]
        )
        for sym, company in synth.STOCKS.items():
            kind = "ETF" if company.employees == 0 else "Stock"
            exchange = company.exchange if company.exchange != "NYSE ARCA" else "NYSE ARCA"
            writer.writerow(
                [sym.lower().replace(".", "-"), exchange, kind, "USD", "1990-01-02", today]
            )
        for i in range(300):
            writer.writerow([f"old{i:03d}", "NASDAQ", "Stock", "USD", "2001-03-01", "2015-06-30"])
            writer.writerow([f"{600000 + i}", "SHG", "Stock", "CNY", "2010-01-04", today])
            writer.writerow([f"mf{i:03d}x", "NMFQS", "Mutual Fund", "USD", "2000-01-03", today])
        writer.writerow(["nodates", "NYSE", "Stock", "USD", "", ""])
        blob = io.BytesIO()
        with zipfile.ZipFile(blob, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("supported_tickers.csv", out.getvalue())
        return Response(blob.getvalue(), media_type="application/zip")

    async def search(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        query = (qp(request, "query") or "").lower()
        rows: list[dict[str, Any]] = []
        for sym, company in synth.STOCKS.items():
            if query and (query in sym.lower() or query in company.name.lower()):
                rows.append(
                    {
                        "ticker": sym.replace(".", "-"),
                        "name": company.name,
                        "assetType": "ETF" if company.employees == 0 else "Stock",
                        "isActive": True,
                        "permaTicker": "US" + hashlib.sha256(sym.encode()).hexdigest()[:12].upper(),
                        "openFIGI": None,
                        "countryCode": "US",
                    }
                )
        for sym, coin in TOP_COINS.items():
            if query and (query == sym.lower() or query in coin.name.lower()):
                rows.append(
                    {
                        "ticker": f"{sym.lower()}usd",
                        "name": f"{coin.name}({sym}/USD)",
                        "assetType": "Crypto",
                        "isActive": True,
                        "permaTicker": None,
                        "openFIGI": None,
                        "countryCode": None,
                    }
                )
        return JSONResponse(rows[:10])
