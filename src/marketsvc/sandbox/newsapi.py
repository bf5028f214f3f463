"""NewsAPI.org emulator: ``/v2/everything`` and ``/v2/top-headlines`` in NewsAPI's envelope
(``{"status": "ok", "totalResults", "articles"}``; errors ``{"status": "error", "code",
"message"}``), with synthetic articles whose topic is the query text verbatim.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from marketsvc.config import DEFAULT_RATE_LIMITS
from marketsvc.sandbox import _synth
from marketsvc.sandbox._framework import ProviderEmulator, qp

SORT_ORDERS = frozenset({"relevancy", "popularity", "publishedAt"})
# A month of hourly synthetic articles: what "search back one month" would find.
TOTAL_RESULTS = 30 * 24

RATE_LIMITED = (
    "You have made too many requests recently. Developer accounts are limited to 100 requests "
    "over a 24 hour period (50 requests available every 12 hours). Please upgrade to a paid "
    "plan if you need more requests."
)
KEY_MISSING = (
    "Your API key is missing. Append this to the URL with the apiKey param, or use the "
    "x-api-key HTTP header."
)
KEY_INVALID = (
    "Your API key is invalid or incorrect. Check your key, or go to https://newsapi.org to "
    "create a free API key."
)


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "code": code, "message": message}, status_code=status)


def article_json(a: _synth.SynthArticle) -> dict[str, Any]:
    return {
        "source": {"id": None, "name": a.source_name},
        "author": "Sandbox Desk (synthetic)",
        "title": a.title,
        "description": a.summary,
        "url": a.url,
        "urlToImage": None,
        "publishedAt": datetime.fromtimestamp(a.published, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "content": f"{a.summary} [+0 chars]",
    }


class Emulator(ProviderEmulator):
    name = "newsapi"
    default_limits = DEFAULT_RATE_LIMITS["newsapi"]

    def routes(self) -> list[Route]:
        return [
            self.route("/v2/everything", self._everything),
            self.route("/v2/top-headlines", self._top_headlines),
        ]

    def throttled(self, request: Request, retry_after: float) -> Response:
        # NewsAPI's real answer: 429 + rateLimited, and no Retry-After or rate-limit headers.
        return error(429, "rateLimited", RATE_LIMITED)

    def server_error(self, request: Request, status: int) -> Response:
        return error(
            status,
            "unexpectedError",
            "This shouldn't happen, and if it does then it's our fault, not yours. "
            "Try the request again shortly.",
        )

    @staticmethod
    def _denied(request: Request) -> Response | None:
        key = (
            request.headers.get("x-api-key")
            or qp(request, "apiKey")
            or request.headers.get("authorization")
        )
        if not key:
            return error(401, "apiKeyMissing", KEY_MISSING)
        if key == "invalid":
            return error(401, "apiKeyInvalid", KEY_INVALID)
        return None

    @staticmethod
    def _paging(request: Request) -> tuple[int, int] | Response:
        try:
            size = int(qp(request, "pageSize") or "100")
            page = int(qp(request, "page") or "1")
        except ValueError:
            return error(400, "parameterInvalid", "pageSize and page must be integers.")
        if not 1 <= size <= 100 or page < 1:
            return error(
                400,
                "parameterInvalid",
                "The pageSize parameter must be between 1 and 100, and page at least 1.",
            )
        return size, page

    def _answer(self, topic: str, size: int, page: int) -> Response:
        items = _synth.articles(topic, self.now(), size * page)[(page - 1) * size :]
        return JSONResponse(
            {
                "status": "ok",
                "totalResults": TOTAL_RESULTS,
                "articles": [article_json(a) for a in items],
            }
        )

    async def _everything(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        q = qp(request, "q") or qp(request, "qInTitle")
        scope = q or qp(request, "sources") or qp(request, "domains")
        if not scope:
            return error(
                400,
                "parametersMissing",
                "Required parameters are missing, the scope of your search is too broad. "
                "Please set any of the following required parameters and try again: q, "
                "qInTitle, sources, domains.",
            )
        sort_by = qp(request, "sortBy") or "publishedAt"
        if sort_by not in SORT_ORDERS:
            return error(400, "parameterInvalid", f"sortBy must be one of {sorted(SORT_ORDERS)}.")
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        return self._answer(scope, *paging)

    async def _top_headlines(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        q, category = qp(request, "q"), qp(request, "category")
        sources, country = qp(request, "sources"), qp(request, "country")
        if sources and (country or category):
            return error(
                400,
                "parametersIncompatible",
                "You can't mix the sources parameter with the country or category parameters.",
            )
        if not (q or category or sources or country or qp(request, "language")):
            return error(
                400,
                "parametersMissing",
                "Required parameters are missing. Please set any of the following parameters "
                "and try again: sources, q, language, country, category.",
            )
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        return self._answer(q or category or sources or "headlines", *paging)
