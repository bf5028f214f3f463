"""NewsAPI.org adapter: articles only, over https://newsapi.org/v2.

``/everything`` answers a query (given, or built from the symbol: coin name or ticker), sorted
newest first; ``/top-headlines`` (US business) answers when there is neither. The key travels in
the ``X-Api-Key`` header, never in the URL. Quotes, history, fundamentals and search are not
offered (BaseProvider raises UnsupportedError for them).
"""

from __future__ import annotations

from typing import Any

from marketsvc.domain import Article, AssetClass, Capability, Freshness
from marketsvc.errors import (
    BadDataError,
    InvalidInputError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
)
from marketsvc.providers._common import BaseProvider, parse_iso
from marketsvc.providers._http import Params, Response, require
from marketsvc.providers.base import ProviderInfo
from marketsvc.symbols import TOP_COINS, resolve

NAME = "newsapi"
MAX_PAGE_SIZE = 100
# NewsAPI sends no Retry-After (no rate-limit headers are documented). Its Developer windows are
# 12 h / 24 h, so retrying within seconds only burns calls; wait an hour unless told otherwise.
# UNVERIFIED choice: treat as configurable policy, not a vendor fact.
DEFAULT_RETRY_AFTER = 3600.0

_AUTH_CODES = frozenset({"apiKeyMissing", "apiKeyInvalid", "apiKeyDisabled", "corsNotAllowed"})
# apiKeyExhausted is a used-up request quota, not a bad key: it clears with time.
_QUOTA_CODES = frozenset({"rateLimited", "apiKeyExhausted"})
_REQUEST_CODES = frozenset(
    {
        "parameterInvalid",
        "parametersMissing",
        "sourcesTooMany",
        "sourceDoesNotExist",
        "maximumResultsReached",
    }
)
# Placeholders NewsAPI leaves where a publisher withdrew an article.
_REMOVED_TITLE = "[Removed]"


def page_size(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE_SIZE))


def query_for_symbol(symbol: str) -> str:
    """``BTC`` → ``Bitcoin OR BTC``; ``Shiba Inu`` is quoted as a phrase; stocks by ticker."""
    try:
        instrument = resolve(symbol)
    except InvalidInputError:
        return symbol
    coin = TOP_COINS.get(instrument.symbol) if instrument.asset_class is AssetClass.CRYPTO else None
    if coin is None or coin.name.upper() == coin.symbol:
        return instrument.symbol
    name = f'"{coin.name}"' if " " in coin.name else coin.name
    return f"{name} OR {coin.symbol}"


def params_everything(query: str, limit: int) -> dict[str, str | int]:
    return {"q": query, "sortBy": "publishedAt", "language": "en", "pageSize": page_size(limit)}


def params_top_headlines(limit: int) -> dict[str, str | int]:
    return {"country": "us", "category": "business", "pageSize": page_size(limit)}


def checked_json(resp: Response) -> dict[str, Any]:
    """Map ``{"status": "error", "code": ...}`` (any HTTP status, 200 included) to typed errors
    by code; other failures by status; return the ``status: ok`` body."""
    body = resp.json_or_none()
    if isinstance(body, dict) and body.get("status") == "error":
        code = str(body.get("code") or "")
        if code in _QUOTA_CODES:
            retry = resp.retry_after()
            raise RateLimitedError(
                NAME, code, retry_after=DEFAULT_RETRY_AFTER if retry is None else retry
            )
        if code in _AUTH_CODES:
            raise ProviderAuthError(NAME, code)
        if code in _REQUEST_CODES:
            raise BadDataError(NAME, f"request rejected: {code}")
        if code == "unexpectedError":
            raise ProviderUnavailableError(NAME, code, reason="http_5xx")
        resp.raise_for_status()
        raise BadDataError(NAME, "error answer without a known code")
    resp.raise_for_status()
    if body is None:
        raise BadDataError(NAME, f"HTTP {resp.status}: body is not JSON")
    require(NAME, isinstance(body, dict) and body.get("status") == "ok", "status 'ok'")
    return dict(body)


def parse_articles(body: dict[str, Any], limit: int, tickers: tuple[str, ...]) -> list[Article]:
    items = body.get("articles")
    require(NAME, isinstance(items, list), "articles list")
    out: list[Article] = []
    for item in items or []:
        require(NAME, isinstance(item, dict), "article object")
        title, url, published = item.get("title"), item.get("url"), item.get("publishedAt")
        if title == _REMOVED_TITLE or not title or not url:
            continue
        require(NAME, isinstance(title, str) and isinstance(url, str), "title and url strings")
        require(NAME, isinstance(published, str), "publishedAt string")
        try:
            published_at = parse_iso(str(published))
        except ValueError:
            raise BadDataError(NAME, "unexpected response shape: publishedAt") from None
        source = item.get("source")
        source_name = source.get("name") if isinstance(source, dict) else None
        description = item.get("description")
        image = item.get("urlToImage")
        out.append(
            Article(
                title=str(title),
                url=str(url),
                published_at=published_at,
                provider=NAME,
                source_name=str(source_name) if source_name else None,
                summary=str(description) if description else None,
                image_url=str(image) if image else None,
                tickers=tickers,
            )
        )
    out.sort(key=lambda a: a.published_at, reverse=True)
    return out[:limit]


class NewsApiProvider(BaseProvider):
    info = ProviderInfo(
        name=NAME,
        # News covers both classes; no quote capability, so no quote is ever routed here.
        asset_classes=frozenset({AssetClass.CRYPTO, AssetClass.STOCK}),
        capabilities=frozenset({Capability.NEWS}),
        quote_freshness=Freshness.DELAYED,  # Developer plan articles arrive 24 h late
    )

    async def _get(self, path: str, params: Params) -> dict[str, Any]:
        key = self._key()
        headers = {"X-Api-Key": key} if key else {}
        return checked_json(await self.http.get(path, params, headers))

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        tickers: tuple[str, ...] = ()
        q = (query or "").strip()
        if symbol:
            tickers = (symbol.upper(),)
            if not q:
                q = query_for_symbol(symbol)
        if q:
            body = await self._get("everything", params_everything(q, limit))
        else:
            body = await self._get("top-headlines", params_top_headlines(limit))
        return parse_articles(body, max(1, limit), tickers)

    async def health(self) -> None:
        body = await self._get("top-headlines", params_top_headlines(1))
        require(NAME, isinstance(body.get("articles"), list), "articles list")
