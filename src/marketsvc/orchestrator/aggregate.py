"""Pure combination logic of the orchestrator: cross-provider price validation and news
aggregation (dedup by URL and by near-identical title, newest first)."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from marketsvc.domain import Article


@dataclass(frozen=True, slots=True)
class ValidationResult:
    status: str  # agreed | divergent | unavailable
    spread_pct: float | None
    quotes: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "spread_pct": self.spread_pct, "quotes": self.quotes}


def validate_prices(quotes: Mapping[str, float], max_spread_pct: float = 2.0) -> ValidationResult:
    """Spread = (max − min) / median of the providers' prices, in percent."""
    prices = {name: p for name, p in quotes.items() if p > 0}
    if len(prices) < 2:
        return ValidationResult("unavailable", None, dict(prices))
    values = list(prices.values())
    spread = (max(values) - min(values)) / statistics.median(values) * 100.0
    status = "divergent" if spread > max_spread_pct else "agreed"
    return ValidationResult(status, round(spread, 4), dict(prices))


_WORD = re.compile(r"[a-z0-9]+")


def url_key(url: str) -> str:
    """Scheme, www., query, fragment and trailing slash do not make another article."""
    parts = urlsplit(url.strip().lower())
    host = parts.netloc.removeprefix("www.")
    return f"{host}{parts.path.rstrip('/')}"


def _title_tokens(title: str) -> frozenset[str]:
    return frozenset(_WORD.findall(title.lower()))


def near_identical(a: frozenset[str], b: frozenset[str], threshold: float = 0.85) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= threshold


def merge_articles(batches: Iterable[Iterable[Article]], limit: int) -> list[Article]:
    """Newest first; the first provider to report a story keeps it (batches come in chain
    order, so the preferred provider's copy wins a tie)."""
    candidates = sorted(
        (a for batch in batches for a in batch), key=lambda a: a.published_at, reverse=True
    )
    seen_urls: set[str] = set()
    kept: list[Article] = []
    kept_titles: list[frozenset[str]] = []
    for article in candidates:
        key = url_key(article.url)
        if key in seen_urls:
            continue
        tokens = _title_tokens(article.title)
        if any(near_identical(tokens, other) for other in kept_titles):
            continue
        seen_urls.add(key)
        kept.append(article)
        kept_titles.append(tokens)
        if len(kept) >= limit:
            break
    return kept
