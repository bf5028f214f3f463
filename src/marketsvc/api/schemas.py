"""Request and response models: what OpenAPI and Swagger UI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from marketsvc.domain import Freshness


class EnvelopeFields(BaseModel):
    """Fields every data answer carries beside its data."""

    source: str = Field(description="The provider that produced the data")
    cached: bool = Field(description="True when served from a cache tier")
    freshness: Freshness
    age_seconds: float = Field(ge=0, description="Seconds since the data was fetched upstream")
    fetched_at: datetime
    sandbox: bool | None = Field(
        default=None, description="Present and true when the data is synthetic (sandbox mode)"
    )


class Validation(BaseModel):
    status: str = Field(description="agreed | divergent | unavailable")
    spread_pct: float | None = None
    quotes: dict[str, float] = Field(default_factory=dict)


class PriceResponse(EnvelopeFields):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "symbol": "BTC",
                "price": 65000.0,
                "change": 120.5,
                "change_percent": 0.19,
                "timestamp": "2026-11-24T12:00:00Z",
                "currency": "USD",
                "asset_class": "crypto",
                "source": "binance",
                "cached": False,
                "freshness": "realtime",
                "age_seconds": 0.0,
                "fetched_at": "2026-11-24T12:00:00Z",
            }
        }
    )

    symbol: str
    price: float
    change: float | None
    change_percent: float | None
    timestamp: datetime
    currency: str
    asset_class: str
    volume: float | None = None
    market_cap: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    previous_close: float | None = None
    validation: Validation | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Symbol unknown to every provider"},
    422: {"model": Problem, "description": "Invalid input"},
    503: {"model": Problem, "description": "Every provider failed and nothing stale is held"},
}
