"""Sentiment per article (the provider's own score where it has one, else VADER), labelled
with its method and reproducible; and the per-day aggregation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from marketsvc.analytics.sentiment import VADER, by_day, label, lexicon_score
from marketsvc.domain import Article
from marketsvc.orchestrator.sentiment import with_sentiment
from marketsvc.orchestrator.serialize import article_data
from marketsvc.providers._alphavantage_parse import parse_news as parse_av_news
from marketsvc.providers._polygon_parse import parse_news as parse_polygon_news


def test_lexicon_scores_are_reproducible_signed_and_labelled() -> None:
    good = lexicon_score("Shares surge as profits beat expectations", "a great quarter")
    bad = lexicon_score("Shares crash after fraud charges and terrible losses")
    flat = lexicon_score("The company will publish its report on Tuesday")
    assert good == lexicon_score("Shares surge as profits beat expectations", "a great quarter")
    assert good.method == bad.method == flat.method == VADER
    assert good.score > 0.5 and good.label == "positive"
    assert bad.score < -0.5 and bad.label == "negative"
    assert flat.score == 0.0 and flat.label == "neutral"
    assert -1.0 <= bad.score <= good.score <= 1.0


def test_labels_use_each_methods_neutral_band() -> None:
    assert label(0.06, 0.05) == "positive"
    assert label(0.06, 0.15) == "neutral"
    assert label(-0.15, 0.15) == "negative"


def _article(**kw: object) -> Article:
    base: dict[str, object] = {
        "title": "Record profits lift the stock",
        "url": "https://example.invalid/a",
        "published_at": datetime(2026, 1, 2, 15, tzinfo=UTC),
        "provider": "newsapi",
    }
    base.update(kw)
    return Article(**base)  # type: ignore[arg-type]


def test_an_unscored_article_gets_vader_and_a_scored_one_keeps_the_providers() -> None:
    scored = with_sentiment(_article())
    assert scored.sentiment is not None and scored.sentiment.method == VADER
    data = article_data(scored)
    assert data["sentiment"] == {
        "score": scored.sentiment.score,
        "label": "positive",
        "method": "vader",
    }
    av = parse_av_news(
        {
            "feed": [
                {
                    "title": "Apple falls",
                    "url": "https://example.invalid/b",
                    "time_published": "20260102T120000",
                    "overall_sentiment_score": -0.2,
                    "overall_sentiment_label": "Somewhat-Bearish",
                    "ticker_sentiment": [
                        {"ticker": "AAPL", "ticker_sentiment_score": "-0.4"},
                        {"ticker": "CRYPTO:BTC", "ticker_sentiment_score": "0.1"},
                    ],
                }
            ]
        }
    )[0]
    assert with_sentiment(av) is av
    assert article_data(av)["sentiment"] == {
        "score": -0.2,
        "label": "negative",
        "method": "alphavantage",
        "provider_label": "Somewhat-Bearish",
        "tickers": {"AAPL": -0.4, "BTC": 0.1},
    }


def test_massive_insights_become_a_score() -> None:
    rows = parse_polygon_news(
        {
            "results": [
                {
                    "title": "Banks mixed",
                    "article_url": "https://example.invalid/c",
                    "published_utc": "2026-01-02T10:00:00Z",
                    "insights": [
                        {"ticker": "UBS", "sentiment": "positive"},
                        {"ticker": "JPM", "sentiment": "positive"},
                        {"ticker": "C", "sentiment": "negative"},
                    ],
                },
                {
                    "title": "No insights here",
                    "article_url": "https://example.invalid/d",
                    "published_utc": "2026-01-02T09:00:00Z",
                },
            ]
        }
    )
    s = rows[0].sentiment
    assert s is not None and s.method == "polygon_insights"
    assert s.score == pytest.approx(1 / 3) and s.label == "positive"
    assert dict(s.tickers) == {"UBS": 1.0, "JPM": 1.0, "C": -1.0}
    assert rows[1].sentiment is None


def test_scores_aggregate_per_day_oldest_first() -> None:
    days = by_day(
        [
            (date(2026, 1, 3), 0.5, "positive"),
            (date(2026, 1, 2), -0.2, "negative"),
            (date(2026, 1, 3), 0.0, "neutral"),
            (date(2026, 1, 3), 0.1, "positive"),
        ]
    )
    assert [d.day for d in days] == [date(2026, 1, 2), date(2026, 1, 3)]
    jan3 = days[1]
    assert jan3.articles == 3 and jan3.mean == pytest.approx(0.2)
    assert (jan3.low, jan3.high) == (0.0, 0.5)
    assert (jan3.positive, jan3.neutral, jan3.negative) == (2, 1, 0)
