"""News sentiment: a score in [-1, 1] per article, and per day.

Where the provider scored the article (Alpha Vantage ``NEWS_SENTIMENT``, Massive ``insights``)
its score is used; otherwise the article's title and summary are scored with VADER (the
``vaderSentiment`` package, MIT licence, lexicon shipped inside the package: nothing is
downloaded), whose ``compound`` score is already in [-1, 1]. Every score names its method.

Labels are positive / neutral / negative, with each method's own neutral band: VADER's
documented ±0.05 on ``compound``, Alpha Vantage's ±0.15 (its "Neutral" band).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Protocol

from marketsvc.domain import ArticleSentiment

VADER = "vader"
VADER_NEUTRAL = 0.05
ALPHAVANTAGE_NEUTRAL = 0.15


class _Analyzer(Protocol):
    def polarity_scores(self, text: str) -> dict[str, float]: ...


@lru_cache(maxsize=1)
def _vader() -> _Analyzer:
    # Built once, on first use: loading the lexicon takes ~50 ms.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer: _Analyzer = SentimentIntensityAnalyzer()
    return analyzer


def label(score: float, neutral_band: float) -> str:
    if score >= neutral_band:
        return "positive"
    if score <= -neutral_band:
        return "negative"
    return "neutral"


def lexicon_score(title: str, summary: str | None = None) -> ArticleSentiment:
    """VADER's compound score of the title and summary (deterministic: same text, same
    score)."""
    text = title if not summary else f"{title}. {summary}"
    compound = float(_vader().polarity_scores(text)["compound"])
    return ArticleSentiment(compound, label(compound, VADER_NEUTRAL), VADER)


@dataclass(frozen=True, slots=True)
class DaySentiment:
    day: date
    articles: int
    mean: float
    low: float
    high: float
    positive: int
    neutral: int
    negative: int


def by_day(scored: Iterable[tuple[date, float, str]]) -> list[DaySentiment]:
    """(day, score, label) triples → one row per day with articles, oldest first."""
    days: dict[date, list[tuple[float, str]]] = {}
    for day, score, lab in scored:
        if math.isfinite(score):
            days.setdefault(day, []).append((score, lab))
    out: list[DaySentiment] = []
    for day in sorted(days):
        rows = days[day]
        scores = [s for s, _ in rows]
        labels = [lab for _, lab in rows]
        out.append(
            DaySentiment(
                day,
                len(rows),
                math.fsum(scores) / len(scores),
                min(scores),
                max(scores),
                labels.count("positive"),
                labels.count("neutral"),
                labels.count("negative"),
            )
        )
    return out
