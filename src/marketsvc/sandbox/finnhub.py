"""Finnhub emulator: the real paths under ``/api/v1`` and Finnhub's wire format, synthetic data.

Stocks are the ``_synth.STOCKS`` table; crypto is ``BINANCE:<SYM>USDT`` / ``COINBASE:<SYM>-USD``
for the top coins plus a few extra coins that only the ``/crypto/symbol`` list reveals (so the
adapter's lookup path runs end to end). Keys containing "free" act as free-plan keys: candle
endpoints answer the premium 403, as Finnhub does since 2024.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from marketsvc.config import DEFAULT_RATE_LIMITS
from marketsvc.sandbox import _synth
from marketsvc.sandbox._framework import ProviderEmulator, qp
from marketsvc.symbols import TOP_COINS

# Coins missing from the adapter's built-in table: reachable only via /crypto/symbol.
EXTRA_COINS = ("PEPE", "WIF", "INJ")
# Plus the long tail the emulated Binance lists (Finnhub mirrors the venues' pair lists).
COINS = (
    frozenset(TOP_COINS)
    | frozenset(EXTRA_COINS)
    | frozenset(c.symbol for c in _synth.LISTED_COINS if c.on_binance)
)
_MICS = {"NASDAQ": "XNAS", "NYSE": "XNYS", "NYSE ARCA": "ARCX"}
RESOLUTION_SECONDS = {
    "1": 60,
    "5": 300,
    "15": 900,
    "30": 1800,
    "60": 3600,
    "D": 86400,
    "W": 7 * 86400,
}
# Which synthetic topics each /news category carries; crypto news mixes several coins.
NEWS_TOPICS: dict[str, tuple[str, ...]] = {
    "general": ("markets",),
    "forex": ("forex",),
    "merger": ("mergers",),
    "crypto": ("BTC", "ETH", "SOL", "XRP", "DOGE"),
}
ARTICLES_PER_TOPIC = 10
NO_ACCESS = {"error": "You don't have access to this resource."}
ZERO_QUOTE = {"c": 0, "d": None, "dp": None, "h": 0, "l": 0, "o": 0, "pc": 0, "t": 0}


def underlying(symbol: str) -> tuple[str, bool] | None:
    """Finnhub symbol → (synthetic symbol, is_stock), or None when Finnhub would not know it."""
    s = symbol.upper()
    if ":" not in s:
        return (s, True) if _synth.is_stock(s) else None
    exchange, _, pair = s.partition(":")
    base = ""
    if (exchange, pair[-4:]) in (("BINANCE", "USDT"), ("COINBASE", "-USD")):
        base = pair[:-4]
    return (base, False) if base in COINS else None


def _figure(symbol: str, salt: str, low: float, high: float) -> float:
    digest = hashlib.sha256(f"finnhub:{salt}:{symbol}".encode()).digest()
    return round(low + (high - low) * int.from_bytes(digest[:4], "big") / 2**32, 4)


class Emulator(ProviderEmulator):
    name = "finnhub"
    default_limits = DEFAULT_RATE_LIMITS["finnhub"]

    def routes(self) -> list[Route]:
        return [
            self.route("/api/v1/quote", self._quote),
            self.route("/api/v1/stock/candle", self._candle),
            self.route("/api/v1/crypto/candle", self._candle),
            self.route("/api/v1/company-news", self._company_news),
            self.route("/api/v1/news", self._market_news),
            self.route("/api/v1/stock/profile2", self._profile),
            self.route("/api/v1/stock/metric", self._metric),
            self.route("/api/v1/search", self._search),
            self.route("/api/v1/crypto/symbol", self._crypto_symbols),
            self.route("/api/v1/stock/symbol", self._stock_symbols),
        ]

    def throttled(self, request: Request, retry_after: float) -> Response:
        # Finnhub's 429 body (Finnhub-API#466). The X-Ratelimit-* names are UNVERIFIED.
        limits = self.state.provider(self.name).limits
        return JSONResponse(
            {"error": "API limit reached. Please try again later. Remaining Limit: 0"},
            status_code=429,
            headers={
                "X-Ratelimit-Limit": str(limits[-1].limit if limits else 0),
                "X-Ratelimit-Remaining": "0",
                "X-Ratelimit-Reset": str(math.ceil(self.now() + retry_after)),
            },
        )

    def server_error(self, request: Request, status: int) -> Response:
        # Finnhub sits behind a proxy whose 5xx pages are HTML, not JSON.
        return HTMLResponse(
            f"<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>",
            status_code=status,
        )

    # Auth ------------------------------------------------------------------------------
    @staticmethod
    def _token(request: Request) -> str:
        return request.headers.get("x-finnhub-token") or qp(request, "token") or ""

    def _denied(self, request: Request) -> Response | None:
        token = self._token(request)
        if not token:
            # Finnhub's answer to an empty token (finnhubio in Finnhub-API#122).
            return JSONResponse(
                {
                    "error": "API limit reached. Please sign up for a free account "
                    "to continue using the API."
                },
                status_code=429,
            )
        if token == "invalid":
            return JSONResponse({"error": "Invalid API key."}, status_code=401)
        return None

    # Handlers --------------------------------------------------------------------------
    async def _quote(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        found = underlying(qp(request, "symbol") or "")
        if found is None:
            return JSONResponse(ZERO_QUOTE)
        sym, f, now = found[0], self.factor(), self.now()
        day_start = math.floor(now / 86400) * 86400
        c = _synth.price_at(sym, now) * f
        o = _synth.price_at(sym, day_start) * f
        pc = _synth.previous_close(sym, now) * f
        return JSONResponse(
            {
                "c": c,
                "d": round(c - pc, 8),
                "dp": round((c - pc) / pc * 100.0, 4),
                "h": max(o, c),
                "l": min(o, c),
                "o": o,
                "pc": pc,
                "t": int(now),
            }
        )

    async def _candle(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        if "free" in self._token(request):
            return JSONResponse(NO_ACCESS, status_code=403)
        seconds = RESOLUTION_SECONDS.get(qp(request, "resolution") or "")
        found = underlying(qp(request, "symbol") or "")
        try:
            start, stop = int(qp(request, "from") or ""), int(qp(request, "to") or "") + 1
        except ValueError:
            return JSONResponse({"error": "Wrong from/to parameters."}, status_code=422)
        if seconds is None or found is None:
            return JSONResponse({"s": "no_data"})
        sym, is_stock = found
        rows = _synth.bars(sym, start, min(stop, int(self.now()) + 1), seconds, stock=is_stock)
        if not rows:
            return JSONResponse({"s": "no_data"})
        f = self.factor()
        return JSONResponse(
            {
                "c": [b.close * f for b in rows],
                "h": [b.high * f for b in rows],
                "l": [b.low * f for b in rows],
                "o": [b.open * f for b in rows],
                "s": "ok",
                "t": [b.start for b in rows],
                "v": [b.volume for b in rows],
            }
        )

    @staticmethod
    def _article(a: _synth.SynthArticle, category: str, related: str) -> dict[str, Any]:
        return {
            "category": category,
            "datetime": a.published,
            "headline": a.title,
            "id": a.published // 3600,
            "image": "",
            "related": related,
            "source": a.source_name,
            "summary": a.summary,
            "url": a.url,
        }

    async def _company_news(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        found = underlying(qp(request, "symbol") or "")
        if found is None or not found[1]:
            return JSONResponse([])
        today = datetime.fromtimestamp(self.now(), tz=UTC).date()
        try:
            first = date.fromisoformat(qp(request, "from") or (today - timedelta(7)).isoformat())
            last = date.fromisoformat(qp(request, "to") or today.isoformat())
        except ValueError:
            return JSONResponse({"error": "Wrong date format."}, status_code=422)
        sym = found[0]
        rows = [
            self._article(a, "company", sym)
            for a in _synth.articles(sym, self.now(), 48)
            if first <= datetime.fromtimestamp(a.published, tz=UTC).date() <= last
        ]
        return JSONResponse(rows)

    async def _market_news(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        category = qp(request, "category") or "general"
        now = self.now()
        rows = [
            (a, self._article(a, category, ""))
            for topic in NEWS_TOPICS.get(category, ())
            for a in _synth.articles(topic, now, ARTICLES_PER_TOPIC)
        ]
        rows.sort(key=lambda row: row[0].published, reverse=True)
        return JSONResponse([row[1] for row in rows])

    async def _profile(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        company = _synth.STOCKS.get((qp(request, "symbol") or "").upper())
        if company is None:
            return JSONResponse({})
        price = _synth.price_at(company.symbol, self.now()) * self.factor()
        slug = company.symbol.lower().replace(".", "-")
        return JSONResponse(
            {
                "country": "US",
                "currency": "USD",
                "estimateCurrency": "USD",
                "exchange": company.exchange,
                "finnhubIndustry": company.sector,
                "ipo": "2000-01-03",
                "logo": "",
                "marketCapitalization": round(price * company.shares / 1e6, 6),
                "name": f"{company.name} {_synth.SYNTHETIC}",
                "phone": "",
                "shareOutstanding": round(company.shares / 1e6, 6),
                "ticker": company.symbol,
                "weburl": f"https://sandbox.marketsvc.invalid/company/{slug}",
            }
        )

    async def _metric(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        symbol = (qp(request, "symbol") or "").upper()
        company = _synth.STOCKS.get(symbol)
        if company is None:
            return JSONResponse({"metric": {}, "metricType": "", "series": {}, "symbol": symbol})
        return JSONResponse(
            {
                "metric": self.key_figures(company.symbol, self.now()),
                "metricType": "all",
                "series": {},
                "symbol": company.symbol,
            }
        )

    def key_figures(self, symbol: str, now: float) -> dict[str, float]:
        """Synthetic /stock/metric figures (public so tests can compute the expectation)."""
        day = math.floor(now / 86400) * 86400
        f = self.factor()
        closes = [_synth.price_at(symbol, day - i * 86400) * f for i in range(365)]
        pe = _figure(symbol, "pe", 12.0, 40.0)
        return {
            "52WeekHigh": max(closes),
            "52WeekLow": min(closes),
            "beta": _figure(symbol, "beta", 0.6, 1.6),
            "dividendYieldIndicatedAnnual": _figure(symbol, "div", 0.0, 3.0),
            "epsBasicExclExtraItemsTTM": round(closes[0] / pe, 4),
            "peBasicExclExtraTTM": pe,
        }

    async def _search(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        q = (qp(request, "q") or "").strip().lower()
        hits = [
            {
                "description": f"{c.name} {_synth.SYNTHETIC}".upper(),
                "displaySymbol": c.symbol,
                "symbol": c.symbol,
                "type": "ETP" if c.industry == "Exchange Traded Fund" else "Common Stock",
            }
            for c in _synth.STOCKS.values()
            if q and (q in c.symbol.lower() or q in c.name.lower())
        ]
        return JSONResponse({"count": len(hits), "result": hits})

    async def _stock_symbols(self, request: Request) -> Response:
        """``/stock/symbol?exchange=US``: every listed ticker in one (large) array; other
        exchange codes list nothing here (the emulator only has US listings)."""
        if (denied := self._denied(request)) is not None:
            return denied
        if not qp(request, "exchange"):
            return JSONResponse({"error": "Wrong exchange code."}, status_code=422)
        if qp(request, "exchange") != "US":
            return JSONResponse([])
        return JSONResponse(
            [
                {
                    "currency": "USD",
                    "description": f"{c.name} {_synth.SYNTHETIC}".upper(),
                    "displaySymbol": c.symbol,
                    "figi": f"BBG{_figure(c.symbol, 'figi', 1e8, 9e8):.0f}",
                    "isin": None,
                    "mic": _MICS.get(c.exchange, "XNYS"),
                    "shareClassFIGI": "",
                    "symbol": c.symbol,
                    "symbol2": "",
                    "type": "ETP" if c.industry == "Exchange Traded Fund" else "Common Stock",
                }
                for c in _synth.STOCKS.values()
            ]
        )

    async def _crypto_symbols(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        exchange = (qp(request, "exchange") or "").lower()
        coins = sorted(COINS)
        if exchange == "binance":
            # Non-USDT quotes are listed too; the adapter must pick the USDT pair.
            pairs = [(c, "USDT", f"{c}USDT") for c in coins if c != "USDT"]
            pairs += [(c, "BTC", f"{c}BTC") for c in coins if c not in ("BTC", "USDT")]
        elif exchange == "coinbase":
            pairs = [(c, "USD", f"{c}-USD") for c in coins]
        else:
            pairs = []
        venue = exchange.capitalize()
        return JSONResponse(
            [
                {
                    "description": f"{venue} {ticker}",
                    "displaySymbol": f"{base}/{quote}",
                    "symbol": f"{exchange.upper()}:{ticker}",
                }
                for base, quote, ticker in pairs
            ]
        )
