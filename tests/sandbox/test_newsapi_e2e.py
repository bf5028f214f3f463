"""The real NewsApiProvider against the NewsAPI emulator: articles equal what _synth computes for
the query the adapter sent, and throttle, auth and fault answers become the right typed errors."""

from __future__ import annotations

from marketsvc.domain import Article
from marketsvc.sandbox import SandboxState, _synth
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
