from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketsvc.domain import Article
from marketsvc.orchestrator.aggregate import merge_articles, url_key, validate_prices

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)


def art(title: str, url: str, minutes_ago: int, provider: str = "p") -> Article:
    return Article(
        title=title, url=url, published_at=T0 - timedelta(minutes=minutes_ago), provider=provider
    )


def test_prices_within_spread_agree() -> None:
    r = validate_prices({"binance": 100.0, "coingecko": 101.0, "yahoo": 100.5})
    assert r.status == "agreed"
    assert r.spread_pct == pytest.approx(1.0 / 100.5 * 100, rel=1e-3)


def test_prices_beyond_spread_diverge() -> None:
    r = validate_prices({"binance": 100.0, "coingecko": 103.0}, max_spread_pct=2.0)
    assert r.status == "divergent"
    assert r.quotes == {"binance": 100.0, "coingecko": 103.0}


def test_one_price_cannot_be_validated() -> None:
    assert validate_prices({"binance": 100.0}).status == "unavailable"


def test_url_key_ignores_scheme_www_query_and_slash() -> None:
    assert url_key("https://www.x.com/a/b/?utm=1#f") == url_key("http://x.com/a/b")
    assert url_key("https://x.com/a") != url_key("https://x.com/b")


def test_merge_dedups_by_url_and_near_identical_title_newest_first() -> None:
    newsapi = [
        art("Bitcoin rallies past record", "https://a.com/1", 10, "newsapi"),
        art("Fed holds rates", "https://a.com/2", 50, "newsapi"),
    ]
    finnhub = [
        art("Bitcoin rallies past record", "https://b.com/other", 12, "finnhub"),
        art("Totally different story", "https://www.a.com/2/", 5, "finnhub"),
        art("Ether upgrade ships", "https://c.com/3", 1, "finnhub"),
    ]
    merged = merge_articles([newsapi, finnhub], limit=10)
    assert [a.title for a in merged] == [
        "Ether upgrade ships",
        "Totally different story",
        "Bitcoin rallies past record",
    ]
    assert merged[2].provider == "newsapi"


def test_merge_respects_limit() -> None:
    many = [art(f"story {i} about topic {i * 7}", f"https://x.com/{i}", i) for i in range(30)]
    assert len(merge_articles([many], limit=5)) == 5
