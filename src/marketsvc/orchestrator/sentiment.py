"""News sentiment answers: every article of a ``/news`` answer carries a score (the provider's
own, else VADER's), and ``/sentiment/{symbol}`` aggregates the scores of a symbol's news per
day. The articles come from the news answer (so through its cache)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from marketsvc.analytics.sentiment import (
    ALPHAVANTAGE_NEUTRAL,
    VADER_NEUTRAL,
    by_day,
    label,
    lexicon_score,
)
from marketsvc.domain import Article, DataType, Freshness, Priority, iso_z
from marketsvc.orchestrator.answers import CachedAnswers, Envelope
from marketsvc.orchestrator.history_source import HistorySource
from marketsvc.orchestrator.usage import UsageTracker
from marketsvc.symbols import resolve

MAX_ARTICLES = 100


def with_sentiment(article: Article) -> Article:
    """The article with a score: the provider's when it gave one, else VADER's."""
    if article.sentiment is not None:
        return article
    return replace(article, sentiment=lexicon_score(article.title, article.summary))


def _score_for(symbol: str, sentiment: dict[str, Any]) -> tuple[float, str, str]:
    """(score, label, method) of an article for ``symbol``: the provider's score for that very
    ticker when it has one, else the article's overall score."""
    tickers = sentiment.get("tickers") or {}
    method = str(sentiment["method"])
    if symbol in tickers:
        score = float(tickers[symbol])
        if method.endswith("_insights"):
            lab = _sign(score)
        else:
            lab = label(score, ALPHAVANTAGE_NEUTRAL if method == "alphavantage" else VADER_NEUTRAL)
        return score, lab, f"{method}_ticker"
    return float(sentiment["score"]), str(sentiment["label"]), method


def _sign(score: float) -> str:
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


class News(Protocol):
    """The orchestrator's news answer."""

    async def __call__(
        self, *, symbol: str, limit: int, force_refresh: bool, priority: Priority
    ) -> Envelope: ...


class NewsSentiment:
    def __init__(
        self, source: HistorySource, answers: CachedAnswers, usage: UsageTracker, news: News
    ) -> None:
        self._source = source  # for the range rules every "days back" request obeys
        self._answers = answers
        self._usage = usage
        self._news = news

    async def sentiment(
        self,
        symbol: str,
        *,
        days: int = 7,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        inst = resolve(symbol)
        start, _ = self._source.range(None, None, days)

        async def load() -> tuple[dict[str, Any], str]:
            news = await self._news(
                symbol=inst.symbol,
                limit=MAX_ARTICLES,
                force_refresh=force_refresh,
                priority=priority,
            )
            rows: list[dict[str, Any]] = []
            for a in news.data.get("articles", []):
                published = datetime.fromisoformat(a["published_at"].replace("Z", "+00:00"))
                if published < start or not a.get("sentiment"):
                    continue
                score, lab, method = _score_for(inst.symbol, a["sentiment"])
                rows.append(
                    {
                        "title": a["title"],
                        "url": a["url"],
                        "published_at": a["published_at"],
                        "provider": a["provider"],
                        "score": score,
                        "label": lab,
                        "method": method,
                    }
                )
            daily = by_day(
                (datetime.fromisoformat(r["published_at"][:10]).date(), r["score"], r["label"])
                for r in rows
            )
            scores = [r["score"] for r in rows]
            data = {
                "symbol": inst.symbol,
                "days": days,
                "from": iso_z(start),
                "methods": sorted({r["method"] for r in rows}),
                "method_note": (
                    "each article is scored by its provider where it has a score "
                    "(alphavantage: NEWS_SENTIMENT, per ticker where given; polygon_insights: "
                    "Massive insights, positive/neutral/negative as +1/0/-1), else by VADER "
                    "(vaderSentiment lexicon, compound score); scores are in [-1, 1]"
                ),
                "overall": {
                    "articles": len(rows),
                    "mean": sum(scores) / len(scores) if scores else None,
                },
                "daily": [
                    {
                        "date": d.day.isoformat(),
                        "articles": d.articles,
                        "mean": d.mean,
                        "min": d.low,
                        "max": d.high,
                        "positive": d.positive,
                        "neutral": d.neutral,
                        "negative": d.negative,
                    }
                    for d in daily
                ],
                "articles": rows,
                "news_providers": news.data.get("providers", []),
            }
            return data, news.source

        self._usage.track(f"{inst.asset_class.value}:{inst.symbol}")
        return await self._answers.answer(
            DataType.SENTIMENT,
            f"{inst.asset_class.value}:{inst.symbol}",
            {"d": days, "day": start.date().isoformat()},
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )
