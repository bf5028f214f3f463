"""Domain models → the plain dicts the API returns and the cache stores (orjson bytes)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from marketsvc.domain import Article, Candle, Fundamentals, Quote, iso_z


def quote_data(q: Quote) -> dict[str, Any]:
    change, change_percent = q.change, q.change_percent
    # Some providers (Finnhub's documented quote sample, Yahoo off-hours) give the previous
    # close but no change: derive it rather than answer null.
    if q.previous_close:
        if change is None:
            change = q.price - q.previous_close
        if change_percent is None:
            change_percent = change / q.previous_close * 100.0
    return {
        "symbol": q.symbol,
        "price": q.price,
        "change": change,
        "change_percent": change_percent,
        "timestamp": iso_z(q.timestamp),
        "currency": q.currency,
        "asset_class": q.asset_class.value,
        "volume": q.volume,
        "market_cap": q.market_cap,
        "open": q.open,
        "high": q.high,
        "low": q.low,
        "previous_close": q.previous_close,
    }


def candle_data(c: Candle) -> dict[str, Any]:
    return {
        "ts": iso_z(c.ts),
        "open": c.open,
        "high": c.high,
        "low": c.low,
        "close": c.close,
        "volume": c.volume,
    }


def article_data(a: Article) -> dict[str, Any]:
    return {
        "title": a.title,
        "url": a.url,
        "published_at": iso_z(a.published_at),
        "provider": a.provider,
        "source_name": a.source_name,
        "summary": a.summary,
        "image_url": a.image_url,
        "tickers": list(a.tickers),
        "sentiment": article_sentiment(a),
    }


def article_sentiment(a: Article) -> dict[str, Any] | None:
    s = a.sentiment
    if s is None:
        return None
    data: dict[str, Any] = {"score": s.score, "label": s.label, "method": s.method}
    if s.provider_label:
        data["provider_label"] = s.provider_label
    if s.tickers:
        data["tickers"] = dict(s.tickers)
    return data


def fundamentals_data(f: Fundamentals) -> dict[str, Any]:
    data = asdict(f)
    data.pop("source", None)
    extra = data.pop("extra", {}) or {}
    data["extra"] = {k: v for k, v in extra.items() if isinstance(v, str | int | float | bool)}
    return data


def dumps(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, default=_default)


def loads(payload: bytes) -> dict[str, Any]:
    value = orjson.loads(payload)
    if not isinstance(value, dict):
        raise ValueError("cached payload is not an object")
    return value


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return iso_z(value)
    raise TypeError(type(value).__name__)
