"""NewsApiProvider against respx on NewsAPI's real shapes (shared/reference/providers.md §5):
the request (path, params, X-Api-Key header, no key in the URL), the parse, and every error code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from marketsvc.config import ProviderSettings
from marketsvc.domain import AssetClass, Capability, Interval
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    UnsupportedError,
)
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.newsapi import DEFAULT_RETRY_AFTER, NewsApiProvider, query_for_symbol
from marketsvc.providers.registry import build_http_client

BASE = "https://newsapi.org/v2"
KEY = "na-SENTINEL-key-5519"
NOW = 1_717_243_200.0  # 2024-06-01T12:00:00Z


def article(published: str, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": {"id": None, "name": "TechCrunch"},
        "author": "Jane Doe",
        "title": title,
        "description": f"About {title}",
        "url": f"https://techcrunch.com/{title.lower().replace(' ', '-')}",
        "urlToImage": "https://img.example/a.jpg",
        "publishedAt": published,
        "content": "First 200 chars… [+3512 chars]",
        **extra,
    }


OK_BODY = {
    "status": "ok",
    "totalResults": 1523,
    "articles": [
        article("2024-05-01T10:00:00Z", "Older story"),
        article("2024-05-01T14:03:00Z", "Newest story", source={"id": "techcrunch", "name": "TC"}),
        # A withdrawn article: NewsAPI keeps a placeholder with these values.
        article("2024-05-01T13:00:00Z", "[Removed]", url="https://removed.com"),
        article("2024-05-01T12:00:00+00:00", "Middle story", urlToImage=None, description=None),
    ],
}


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


async def _provider(key: str | None) -> AsyncIterator[NewsApiProvider]:
    settings = ProviderSettings(
        name="newsapi",
        api_key=SecretStr(key) if key else None,
        base_url=BASE,
        enabled=True,
        rate_limits=(),
        ws_url=None,
    )
    async with build_http_client(settings, timeout=2.0) as client:
        yield NewsApiProvider(settings, ProviderHttp("newsapi", client, clock=lambda: NOW))


@pytest.fixture
async def na() -> AsyncIterator[NewsApiProvider]:
    async for provider in _provider(KEY):
        yield provider


@pytest.fixture
async def keyless() -> AsyncIterator[NewsApiProvider]:
    async for provider in _provider(None):
        yield provider


def sent(route: respx.Route) -> dict[str, str]:
    """Params of the last request on ``route``; the key is in the header, never in the URL."""
    request: httpx.Request = route.calls.last.request
    assert request.headers["X-Api-Key"] == KEY
    assert KEY not in str(request.url) and "apiKey" not in request.url.params
    return dict(request.url.params)


async def fails(kind: type[ProviderError], call: Awaitable[Any]) -> ProviderError:
    with pytest.raises(kind) as info:
        await call
    assert KEY not in str(info.value) and KEY not in repr(info.value.args)
    assert "newsapi.org" not in str(info.value)
    return info.value


def err(code: str, message: str = "msg") -> dict[str, str]:
    return {"status": "error", "code": code, "message": message}


# Requests and parse ------------------------------------------------------------------------
async def test_everything_request_and_parse(na: NewsApiProvider, mock: respx.MockRouter) -> None:
    route = mock.get("/everything").respond(json=OK_BODY)
    arts = await na.news(query="apple earnings", symbol=None, limit=10)
    assert sent(route) == {
        "q": "apple earnings",
        "sortBy": "publishedAt",
        "language": "en",
        "pageSize": "10",
    }
    # Newest first, the [Removed] placeholder dropped.
    assert [a.title for a in arts] == ["Newest story", "Middle story", "Older story"]
    newest, middle = arts[0], arts[1]
    assert newest.published_at == datetime(2024, 5, 1, 14, 3, tzinfo=UTC)
    assert (newest.source_name, newest.provider, newest.summary) == (
        "TC",
        "newsapi",
        "About Newest story",
    )
    assert (newest.url, newest.image_url) == (
        "https://techcrunch.com/newest-story",
        "https://img.example/a.jpg",
    )
    assert (middle.image_url, middle.summary, middle.tickers) == (None, None, ())


async def test_limit_caps_the_answer_and_page_size(
    na: NewsApiProvider, mock: respx.MockRouter
) -> None:
    route = mock.get("/everything").respond(json=OK_BODY)
    arts = await na.news(query="apple", symbol=None, limit=250)
    assert sent(route)["pageSize"] == "100"  # NewsAPI's maximum
    assert len(arts) == 3
    assert len(await na.news(query="apple", symbol=None, limit=1)) == 1


@pytest.mark.parametrize(
    ("symbol", "q"),
    [
        ("BTC", "Bitcoin OR BTC"),
        ("eth-usd", "Ethereum OR ETH"),
        ("SHIB", '"Shiba Inu" OR SHIB'),
        ("XRP", "XRP"),
        ("AAPL", "AAPL"),
        ("BRK.B", "BRK.B"),
    ],
)
async def test_symbol_becomes_the_query(
    na: NewsApiProvider, mock: respx.MockRouter, symbol: str, q: str
) -> None:
    assert query_for_symbol(symbol) == q
    route = mock.get("/everything").respond(json=OK_BODY)
    arts = await na.news(query=None, symbol=symbol, limit=5)
    assert sent(route)["q"] == q
    assert {a.tickers for a in arts} == {(symbol.upper(),)}


async def test_query_wins_over_symbol(na: NewsApiProvider, mock: respx.MockRouter) -> None:
    route = mock.get("/everything").respond(json=OK_BODY)
    await na.news(query="halving", symbol="BTC", limit=5)
    assert sent(route)["q"] == "halving"


async def test_no_query_uses_top_headlines(na: NewsApiProvider, mock: respx.MockRouter) -> None:
    route = mock.get("/top-headlines").respond(json=OK_BODY)
    arts = await na.news(query=None, symbol=None, limit=20)
    assert sent(route) == {"country": "us", "category": "business", "pageSize": "20"}
    assert arts[0].title == "Newest story"


async def test_health_is_one_tiny_headlines_call(
    na: NewsApiProvider, mock: respx.MockRouter
) -> None:
    route = mock.get("/top-headlines").respond(
        json={"status": "ok", "totalResults": 0, "articles": []}
    )
    await na.health()
    assert route.call_count == 1 and sent(route)["pageSize"] == "1"


async def test_missing_key_sends_no_header_and_is_auth(
    keyless: NewsApiProvider, mock: respx.MockRouter
) -> None:
    route = mock.get("/everything").respond(
        401, json=err("apiKeyMissing", "Your API key is missing.")
    )
    await fails(ProviderAuthError, keyless.news(query="x", symbol=None, limit=1))
    request = route.calls.last.request
    assert "x-api-key" not in request.headers and "apiKey" not in request.url.params


# Throttling and errors ---------------------------------------------------------------------
RATE_LIMITED = err(
    "rateLimited",
    "You have made too many requests recently. Developer accounts are limited to 100 requests "
    "over a 24 hour period (50 requests available every 12 hours).",
)


async def test_rate_limited_without_retry_after_uses_the_default(
    na: NewsApiProvider, mock: respx.MockRouter
) -> None:
    mock.get("/everything").respond(429, json=RATE_LIMITED)
    e = await fails(RateLimitedError, na.news(query="x", symbol=None, limit=1))
    assert isinstance(e, RateLimitedError) and e.retry_after == DEFAULT_RETRY_AFTER


async def test_rate_limited_with_retry_after_seconds(
    na: NewsApiProvider, mock: respx.MockRouter
) -> None:
    mock.get("/everything").respond(429, json=RATE_LIMITED, headers={"Retry-After": "45"})
    e = await fails(RateLimitedError, na.news(query="x", symbol=None, limit=1))
    assert isinstance(e, RateLimitedError) and e.retry_after == 45.0


async def test_rate_limited_with_http_date_retry_after(
    na: NewsApiProvider, mock: respx.MockRouter
) -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 90, tz=UTC), usegmt=True)
    mock.get("/everything").respond(429, json=RATE_LIMITED, headers={"Retry-After": when})
    e = await fails(RateLimitedError, na.news(query="x", symbol=None, limit=1))
    assert isinstance(e, RateLimitedError) and e.retry_after == pytest.approx(90.0)


async def test_plain_429_without_json_is_rate_limited(
    na: NewsApiProvider, mock: respx.MockRouter
) -> None:
    mock.get("/everything").respond(429, text="Too Many Requests", headers={"Retry-After": "5"})
    e = await fails(RateLimitedError, na.news(query="x", symbol=None, limit=1))
    assert isinstance(e, RateLimitedError) and e.retry_after == 5.0


async def test_exhausted_key_is_a_quota_not_an_auth_error(
    na: NewsApiProvider, mock: respx.MockRouter
) -> None:
    mock.get("/everything").respond(429, json=err("apiKeyExhausted"))
    e = await fails(RateLimitedError, na.news(query="x", symbol=None, limit=1))
    assert isinstance(e, RateLimitedError) and e.retry_after == DEFAULT_RETRY_AFTER


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "apiKeyMissing"),
        (401, "apiKeyInvalid"),
        (401, "apiKeyDisabled"),
        (426, "corsNotAllowed"),
    ],
)
async def test_key_errors_are_auth(
    na: NewsApiProvider, mock: respx.MockRouter, status: int, code: str
) -> None:
    mock.get("/everything").respond(status, json=err(code))
    e = await fails(ProviderAuthError, na.news(query="x", symbol=None, limit=1))
    assert code in str(e)


@pytest.mark.parametrize(
    "code", ["parameterInvalid", "parametersMissing", "sourcesTooMany", "sourceDoesNotExist"]
)
async def test_request_errors_are_bad_data(
    na: NewsApiProvider, mock: respx.MockRouter, code: str
) -> None:
    mock.get("/everything").respond(
        400, json=err(code, "You are trying to request results too far in the past.")
    )
    e = await fails(BadDataError, na.news(query="x", symbol=None, limit=1))
    assert code in str(e)


async def test_error_inside_http_200_is_mapped(na: NewsApiProvider, mock: respx.MockRouter) -> None:
    mock.get("/everything").respond(200, json=err("rateLimited"))
    await fails(RateLimitedError, na.news(query="x", symbol=None, limit=1))


async def test_unknown_error_code_falls_back_to_the_status(
    na: NewsApiProvider, mock: respx.MockRouter
) -> None:
    mock.get("/everything").respond(503, json=err("somethingNew"))
    await fails(ProviderUnavailableError, na.news(query="x", symbol=None, limit=1))
    mock.get("/top-headlines").respond(200, json=err("somethingNew"))
    await fails(BadDataError, na.news(query=None, symbol=None, limit=1))


@pytest.mark.parametrize(
    ("status", "kwargs"),
    [
        (500, {"json": err("unexpectedError")}),
        (502, {"html": "<h1>Bad Gateway</h1>"}),
        (504, {"text": ""}),
    ],
)
async def test_server_errors_are_unavailable(
    na: NewsApiProvider, mock: respx.MockRouter, status: int, kwargs: dict[str, Any]
) -> None:
    mock.get("/everything").respond(status, **kwargs)
    await fails(ProviderUnavailableError, na.news(query="x", symbol=None, limit=1))


async def test_timeout_is_unavailable(na: NewsApiProvider, mock: respx.MockRouter) -> None:
    mock.get("/everything").mock(side_effect=httpx.ConnectTimeout("slow"))
    await fails(ProviderUnavailableError, na.news(query="x", symbol=None, limit=1))


async def test_non_json_200_is_bad_data(na: NewsApiProvider, mock: respx.MockRouter) -> None:
    mock.get("/everything").respond(200, html="<html>captive portal</html>")
    await fails(BadDataError, na.news(query="x", symbol=None, limit=1))


@pytest.mark.parametrize(
    "body",
    [
        {"totalResults": 1, "articles": []},
        {"status": "ok", "articles": {"a": 1}},
        {"status": "ok", "articles": ["not an object"]},
        {"status": "ok", "articles": [article("yesterday-ish", "Bad date")]},
        {"status": "ok", "articles": [article("2024-05-01T10:00:00Z", "x", url=123)]},
        [],
    ],
)
async def test_schema_mismatch_is_bad_data(
    na: NewsApiProvider, mock: respx.MockRouter, body: Any
) -> None:
    mock.get("/everything").respond(200, json=body)
    await fails(BadDataError, na.news(query="x", symbol=None, limit=1))


async def test_market_data_operations_are_unsupported(na: NewsApiProvider) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await fails(UnsupportedError, na.quote("AAPL", AssetClass.STOCK))
    await fails(UnsupportedError, na.history("AAPL", AssetClass.STOCK, Interval.DAY, start, start))
    await fails(UnsupportedError, na.fundamentals("AAPL"))
    await fails(UnsupportedError, na.search("apple"))
    assert NewsApiProvider.info.capabilities == frozenset({Capability.NEWS})
