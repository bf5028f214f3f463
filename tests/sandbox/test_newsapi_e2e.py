"""The real NewsApiProvider against the NewsAPI emulator: articles equal what _synth computes for
the query the adapter sent, and throttle, auth and fault answers become the right typed errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketsvc.domain import Article, AssetClass, Interval
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
    UnsupportedError,
)
from marketsvc.providers.newsapi import DEFAULT_RETRY_AFTER
from marketsvc.sandbox import SandboxState, _synth
from marketsvc.sandbox._framework import Fault
from tests._sandbox import SANDBOX_KEY, adapter_on_sandbox


def calls(state: SandboxState) -> list[tuple[str, dict[str, str]]]:
    return [(c.path, c.query) for c in state.calls if c.provider == "newsapi"]


def assert_synthetic(arts: list[Article], topic: str, count: int, now: float) -> None:
    """The articles are _synth.articles(topic) for the hour the emulator served them."""
    assert len(arts) == count
    newest = arts[0].published_at.timestamp()
    assert now - 2 * 3600 < newest <= now
    expected = _synth.articles(topic, newest, count)
    assert [(a.title, a.url, a.published_at.timestamp()) for a in arts] == [
        (e.title, e.url, e.published) for e in expected
    ]
    assert {(a.provider, a.source_name, a.summary) for a in arts} == {
        ("newsapi", expected[0].source_name, expected[0].summary)
    }


async def test_query_search_equals_the_synthetic_articles() -> None:
    async with adapter_on_sandbox("newsapi") as (provider, state):
        arts = await provider.news(query="bitcoin", symbol=None, limit=5)
        assert calls(state) == [
            (
                "/newsapi/v2/everything",
                {"q": "bitcoin", "sortBy": "publishedAt", "language": "en", "pageSize": "5"},
            )
        ]
        assert_synthetic(arts, "bitcoin", 5, state.now())


async def test_symbol_search_uses_the_coin_name() -> None:
    async with adapter_on_sandbox("newsapi") as (provider, state):
        arts = await provider.news(query=None, symbol="ETH", limit=3)
        assert calls(state)[0][1]["q"] == "Ethereum OR ETH"
        assert_synthetic(arts, "Ethereum OR ETH", 3, state.now())
    assert {a.tickers for a in arts} == {("ETH",)}


async def test_no_query_reads_business_headlines() -> None:
    async with adapter_on_sandbox("newsapi") as (provider, state):
        arts = await provider.news(query=None, symbol=None, limit=4)
        assert calls(state)[0][0] == "/newsapi/v2/top-headlines"
        assert_synthetic(arts, "business", 4, state.now())


async def test_health_is_one_headlines_call() -> None:
    async with adapter_on_sandbox("newsapi") as (provider, state):
        await provider.health()
        assert [(path, q["pageSize"]) for path, q in calls(state)] == [
            ("/newsapi/v2/top-headlines", "1")
        ]


async def test_throttle_answer_is_rate_limited_with_retry_after() -> None:
    async with adapter_on_sandbox("newsapi", limits={"newsapi": "2/minute"}) as (provider, _):
        await provider.news(query="apple", symbol=None, limit=1)
        await provider.news(query="apple", symbol=None, limit=1)
        with pytest.raises(RateLimitedError) as info:
            await provider.news(query="apple", symbol=None, limit=1)
    # NewsAPI sends no Retry-After: the adapter's documented default applies.
    assert info.value.retry_after == DEFAULT_RETRY_AFTER


@pytest.mark.parametrize("key", [None, "invalid"])
async def test_missing_or_invalid_key_is_auth_error(key: str | None) -> None:
    async with adapter_on_sandbox("newsapi", key=key) as (provider, _):
        with pytest.raises(ProviderAuthError) as info:
            await provider.news(query="apple", symbol=None, limit=1)
    assert SANDBOX_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(kind="error", count=1), ProviderUnavailableError),
        (Fault(kind="error", count=1, status=500), ProviderUnavailableError),
        (Fault(kind="malformed", count=1), BadDataError),
        (Fault(kind="throttle", count=1), RateLimitedError),
    ],
)
async def test_injected_faults_become_typed_errors(fault: Fault, error: type[Exception]) -> None:
    async with adapter_on_sandbox("newsapi") as (provider, state):
        state.providers["newsapi"].faults.append(fault)
        with pytest.raises(error):
            await provider.news(query="apple", symbol=None, limit=2)
        arts = await provider.news(query="apple", symbol=None, limit=2)  # then healthy
        assert_synthetic(arts, "apple", 2, state.now())


async def test_emulator_rejects_what_newsapi_rejects() -> None:
    """The emulator speaks NewsAPI's request rules, so a wrong adapter would fail here."""
    async with adapter_on_sandbox("newsapi") as (provider, _):
        http = provider.http  # type: ignore[attr-defined]
        key = {"X-Api-Key": SANDBOX_KEY}
        missing = await http.get("everything", {"pageSize": 5}, key)
        too_big = await http.get("everything", {"q": "x", "pageSize": 101}, key)
        mixed = await http.get("top-headlines", {"sources": "bbc-news", "country": "us"}, key)
    assert (missing.status, missing.json()["code"]) == (400, "parametersMissing")
    assert (too_big.status, too_big.json()["code"]) == (400, "parameterInvalid")
    assert mixed.status == 400 and mixed.json()["status"] == "error"


async def test_market_data_is_unsupported() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    async with adapter_on_sandbox("newsapi") as (provider, state):
        with pytest.raises(UnsupportedError):
            await provider.quote("BTC", AssetClass.CRYPTO)
        with pytest.raises(UnsupportedError):
            await provider.history("BTC", AssetClass.CRYPTO, Interval.DAY, start, start)
        assert calls(state) == []
