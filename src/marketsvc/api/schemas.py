"""Request and response models: what OpenAPI and Swagger UI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from marketsvc.domain import FETCHABLE_TYPES, SYMBOL_PATTERN, DataType, Freshness
from marketsvc.symbols import symbol_problem

SYMBOL_RE = SYMBOL_PATTERN.pattern  # one definition of a valid symbol, in domain.py


def _checked_symbol(value: str) -> str:
    # The pattern admits ``..`` and ``A/../B``; the rest of the rule lives in symbols.py, so a
    # body symbol (market-data, batch, prefetch, cache clear) fails exactly like a path one.
    problem = symbol_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_symbol", "{problem}", {"problem": problem})
    return value


Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_RE), AfterValidator(_checked_symbol)]
PriorityName = Literal["URGENT", "HIGH", "MEDIUM", "LOW", "BATCH"]


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
    freshness_reason: str | None = Field(
        default=None,
        description="Why the data is less fresh than its provider's nature (e.g. an old quote)",
    )
    refresh_failed: bool | None = Field(
        default=None,
        description="Present and true when force_refresh could not reach any provider and a "
        "held value is served (see age_seconds)",
    )
    refresh_error: str | None = Field(default=None, description="Why the refresh failed")


class Validation(BaseModel):
    status: str = Field(description="agreed | divergent | unavailable")
    spread_pct: float | None = None
    quotes: dict[str, float] = Field(default_factory=dict)


class ResolutionNote(BaseModel):
    """Present only when the symbol names both a coin and a stock: which reading answered
    and how to ask for the other."""

    asset_class: str = Field(description="The reading that answered: crypto or stock")
    ambiguous: bool = Field(description="Always true when present")
    hint: str = Field(description="e.g. 'asset_class=crypto for the coin'")
    reason: str | None = Field(
        default=None, description="Why the other reading answered (e.g. no stock provider knew it)"
    )


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
    resolution: ResolutionNote | None = None


class CandleOut(BaseModel):
    ts: datetime = Field(description="Bar start (UTC)")
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None


class CandleSource(BaseModel):
    provider: str = Field(description="The provider these candles came from")
    from_: datetime = Field(alias="from", description="First candle from this provider")
    to: datetime = Field(description="Last candle from this provider")
    candles: int


class StoredHistoryFields(BaseModel):
    served_from: Literal["history_store"] = Field(
        default="history_store", description="The candles were served by the history store"
    )
    providers: list[CandleSource] = Field(
        default_factory=list, description="Which provider supplied which range of the candles"
    )


class HistoricalResponse(EnvelopeFields, StoredHistoryFields):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "symbol": "AAPL",
                "asset_class": "stock",
                "timespan": "day",
                "candles": [
                    {
                        "ts": "2026-11-23T00:00:00Z",
                        "open": 227.1,
                        "high": 229.4,
                        "low": 226.0,
                        "close": 228.9,
                        "volume": 41250000,
                    }
                ],
                "served_from": "history_store",
                "providers": [
                    {
                        "provider": "yahoo",
                        "from": "2026-11-23T00:00:00Z",
                        "to": "2026-11-23T00:00:00Z",
                        "candles": 1,
                    }
                ],
                "source": "yahoo",
                "cached": True,
                "freshness": "delayed",
                "age_seconds": 12.5,
                "fetched_at": "2026-11-24T12:00:00Z",
            }
        }
    )

    symbol: str
    asset_class: str
    timespan: str
    candles: list[CandleOut] = Field(description="Oldest first")
    resolution: ResolutionNote | None = None


class ArticleSentimentOut(BaseModel):
    score: float = Field(ge=-1, le=1)
    label: Literal["positive", "neutral", "negative"]
    method: str = Field(description="vader (lexicon), alphavantage, polygon_insights")
    provider_label: str | None = None
    tickers: dict[str, float] | None = Field(default=None, description="Provider's per ticker")


class ArticleOut(BaseModel):
    title: str
    url: str
    published_at: datetime
    provider: str = Field(description="The provider that reported the article")
    source_name: str | None = None
    summary: str | None = None
    image_url: str | None = None
    tickers: list[str] = Field(default_factory=list)
    sentiment: ArticleSentimentOut | None = None


class NewsResponse(EnvelopeFields):
    query: str | None = None
    symbol: str | None = None
    articles: list[ArticleOut] = Field(description="Newest first, deduplicated")
    providers: list[str] = Field(default_factory=list, description="Providers that answered")


class TechnicalResponse(EnvelopeFields, StoredHistoryFields):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "symbol": "BTC",
                "asset_class": "crypto",
                "timespan": "day",
                "period": 14,
                "timestamps": ["2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"],
                "indicators": {"rsi": {"value": [None, 61.2]}},
                "served_from": "history_store",
                "providers": [],
                "source": "binance",
                "cached": False,
                "freshness": "delayed",
                "age_seconds": 0.0,
                "fetched_at": "2026-11-24T12:00:00Z",
            }
        }
    )

    symbol: str
    asset_class: str
    timespan: str
    period: int
    timestamps: list[datetime]
    indicators: dict[str, dict[str, list[float | None]]] = Field(
        description="indicator -> series name -> values aligned with timestamps (null = warm-up)"
    )
    resolution: ResolutionNote | None = None


class SymbolMatchOut(BaseModel):
    symbol: str = Field(description="Canonical symbol, as the data endpoints take it")
    name: str
    asset_class: str = Field(description="crypto or stock")
    providers: list[str] = Field(description="Providers whose symbol lists carry it")


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "query": "pe",
                "asset_class": None,
                "count": 2,
                "matches": [
                    {
                        "symbol": "PEPE",
                        "name": "Pepe",
                        "asset_class": "crypto",
                        "providers": ["binance", "coingecko", "coinmarketcap"],
                    },
                    {
                        "symbol": "PEP",
                        "name": "PepsiCo Inc.",
                        "asset_class": "stock",
                        "providers": ["finnhub", "polygon", "tiingo"],
                    },
                ],
            }
        }
    )

    query: str
    asset_class: str | None = None
    count: int
    matches: list[SymbolMatchOut] = Field(
        description="Exact symbol first, then symbol prefix, then name matches"
    )


class FundamentalsResponse(EnvelopeFields):
    symbol: str
    name: str | None = None
    description: str | None = None
    exchange: str | None = None
    currency: str | None = None
    country: str | None = None
    sector: str | None = None
    industry: str | None = None
    website: str | None = None
    employees: int | None = None
    market_cap: float | None = None
    shares_outstanding: float | None = None
    pe_ratio: float | None = None
    eps: float | None = None
    dividend_yield: float | None = None
    beta: float | None = None
    week52_high: float | None = None
    week52_low: float | None = None


class MarketDataRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "data_type": "historical",
                "symbol": "AAPL",
                "params": {"days": 30, "timespan": "day"},
            }
        },
    )

    data_type: DataType
    symbol: Symbol | None = Field(default=None, description="Required except for news")
    params: dict[str, str | int | float | bool | list[str] | None] = Field(default_factory=dict)
    force_refresh: bool = False
    priority: PriorityName = "MEDIUM"


class MarketDataResponse(EnvelopeFields):
    model_config = ConfigDict(extra="allow")

    data_type: DataType


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Items are validated one by one in the route (one invalid item is an item-level 422,
    # never a failed batch), so the model takes them raw and documents them as requests.
    requests: list[Any] = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={"items": {"$ref": "#/components/schemas/MarketDataRequest"}},
    )


class BatchItem(BaseModel):
    ok: bool
    data: dict[str, Any] | None = None
    error: Problem | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem] = Field(description="One per request, in order")


class CacheClearRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_type: DataType | None = None
    symbol: Symbol | None = None


class CacheClearResponse(BaseModel):
    cleared: dict[str, Any]


class PrefetchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_type: DataType
    symbols: list[Symbol] = Field(min_length=1, max_length=100)

    @field_validator("data_type")
    @classmethod
    def _fetchable(cls, value: DataType) -> DataType:
        # Refused here, not accepted with a 202 and then failing in the background.
        if value not in FETCHABLE_TYPES:
            names = ", ".join(sorted(t.value for t in FETCHABLE_TYPES))
            raise ValueError(f"prefetch takes one of {names}")
        return value


class PrefetchResponse(BaseModel):
    accepted: int
    data_type: DataType
    priority: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None
    retry_after: int | None = Field(
        default=None, description="In batch items: seconds to wait before retrying this item"
    )


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response documented as ``application/problem+json`` (what we send)."""
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: problem_response("Symbol unknown to every provider"),
    422: problem_response("Invalid input"),
    503: problem_response("Every provider failed and nothing stale is held (Retry-After set)"),
}
# Any route but the probes may be refused by admission control (api/middleware.py).
OVERLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: problem_response("Too many requests in progress (Retry-After set)"),
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: problem_response("Missing or wrong bearer token"),
    403: problem_response("Admin endpoints are disabled (no ADMIN_TOKEN)"),
    422: problem_response("Invalid input"),
}
# What every route with a JSON body may also answer (api/bodies.py).
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: problem_response("Request body larger than 64 KiB"),
    415: problem_response("Request body is not JSON"),
    422: problem_response("Invalid input: not UTF-8 JSON, too deep, or fails validation"),
}
