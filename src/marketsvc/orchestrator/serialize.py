"""Domain models → the plain dicts the API returns and the cache stores (orjson bytes)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from marketsvc.domain import Article, Candle, Fundamentals, Quote


def quote_data(q: Quote) -> dict[str, Any]:
    return {
        "symbol": q.symbol,
        "price": q.price,
        "change": q.change,
        "change_percent": q.change_percent,
        "timestamp": q.timestamp.isoformat(),
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
        "ts": c.ts.isoformat(),
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
        "published_at": a.published_at.isoformat(),
        "provider": a.provider,
        "source_name": a.source_name,
        "summary": a.summary,
        "image_url": a.image_url,
        "tickers": list(a.tickers),
    }


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
        return value.isoformat()
    raise TypeError(type(value).__name__)
