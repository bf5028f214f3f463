"""Response models of the analytics routes (statistics, patterns, anomalies, sentiment): what
OpenAPI documents. Timestamps are ISO 8601 UTC with ``Z``; numbers that cannot be computed
(a warm-up, a series that does not vary) are null."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from marketsvc.api.schemas import CandleSource, EnvelopeFields, Validation

SentimentLabel = Literal["positive", "neutral", "negative"]


class AnalyticsKind(StrEnum):
    RETURNS = "returns"
    VOLATILITY = "volatility"
    DRAWDOWN = "drawdown"
    SHARPE = "sharpe"
    BETA = "beta"
    CORRELATION = "correlation"


class CandlesUsed(BaseModel):
    """Which candles an answer used: range, count and the providers they came from."""

    model_config = ConfigDict(populate_by_name=True)

    symbol: str
    asset_class: str
    timespan: str
    from_: datetime | None = Field(alias="from", description="First candle used")
    to: datetime | None = Field(description="Last candle used")
    count: int
    source: str = Field(description="The providers the candles came from, joined by +")
    served_from: Literal["history_store"]
    providers: list[CandleSource]


class Convention(BaseModel):
    """The conventions the answer used, in words."""

    days: str
    candles: str
    returns: Literal["simple", "log"]
    warm_up: str
    volatility: str | None = None
    sharpe: str | None = None
    beta: str | None = None
    drawdown: str | None = None
    alignment: str | None = Field(default=None, description="How symbols were put side by side")
    risk_free: float | None = None


class PricePoint(BaseModel):
    ts: datetime
    close: float


class SymbolStats(BaseModel):
    """One symbol's figures; which fields are present depends on the kind."""

    model_config = ConfigDict(populate_by_name=True)

    symbol: str
    asset_class: str
    observations: int = Field(description="Returns the figures are computed from")
    periods_per_year: int | None = Field(default=None, description="252 stocks, 365 crypto")
    timestamps: list[datetime] | None = None
    series: list[float | None] | None = Field(
        default=None, description="returns / rolling volatility / drawdown per timestamp"
    )
    total_return: float | None = None
    mean_return: float | None = None
    volatility_daily: float | None = None
    volatility_annualised: float | None = None
    window: int | None = None
    max_drawdown: float | None = None
    peak: PricePoint | None = None
    trough: PricePoint | None = None
    recovered_at: datetime | None = None
    sharpe: float | None = None
    mean_return_annualised: float | None = None
    risk_free: float | None = None
    benchmark: str | None = None
    beta: float | None = None
    correlation: float | None = None
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None


class CorrelationMatrix(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    symbols: list[str]
    matrix: list[list[float | None]] = Field(description="Symmetric, unit diagonal")
    observations: int = Field(description="Aligned returns per symbol")
    from_: date = Field(alias="from")
    to: date
    alignment: str
    dropped_candles: dict[str, int] = Field(
        description="Per symbol: candles on dates another symbol lacks (left out)"
    )


class AnalyticsResponse(EnvelopeFields):
    kind: AnalyticsKind
    days: int
    convention: Convention
    results: list[SymbolStats] | None = None
    correlation: CorrelationMatrix | None = None
    candles_used: list[CandlesUsed]


class PatternSignal(BaseModel):
    ts: datetime
    value: int = Field(description="+100 / -100 (±80: TA-Lib's weaker engulfing / harami)")


class PatternHits(BaseModel):
    talib: str = Field(description="The TA-Lib function with the same definition")
    count: int
    signals: list[PatternSignal]


class LevelOut(BaseModel):
    price: float
    touches: int = Field(description="Swing points at this level")
    first: datetime
    last: datetime


class Levels(BaseModel):
    last_close: float
    swing_width: int
    support: list[LevelOut] = Field(description="Under the last close, strongest first")
    resistance: list[LevelOut] = Field(description="Above the last close, strongest first")


class PatternsResponse(EnvelopeFields):
    symbol: str
    asset_class: str
    patterns: dict[str, PatternHits]
    levels: Levels
    candles_used: CandlesUsed


class AnomalyWindow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    observations: int
    from_: datetime | None = Field(alias="from")
    to: datetime | None


class AnomalyOut(BaseModel):
    kind: Literal["return", "volume", "gap", "provider_divergence"]
    ts: datetime | None = Field(description="The candle (null: current quotes)")
    value: float = Field(description="Return / gap as a fraction, volume, or spread in %")
    score: float | None = Field(description="Robust z-score (null for divergence)")
    threshold: float
    median: float | None = None
    scale: float | None = None
    window: AnomalyWindow
    description: str


class SymbolAnomalies(BaseModel):
    symbol: str
    asset_class: str
    anomalies: list[AnomalyOut]
    validation: Validation | None = Field(description="Cross-provider check (null: not asked)")
    judged_candles: int


class AnomalyConvention(BaseModel):
    measure: str
    window: int
    threshold: float
    kinds: str


class AnomaliesResponse(EnvelopeFields):
    days: int
    convention: AnomalyConvention
    results: list[SymbolAnomalies]
    candles_used: list[CandlesUsed]


class ScoredArticle(BaseModel):
    title: str
    url: str
    published_at: datetime
    provider: str
    score: float = Field(ge=-1, le=1)
    label: SentimentLabel
    method: str = Field(description="vader, alphavantage(_ticker), polygon_insights(_ticker)")


class DaySentimentOut(BaseModel):
    date: date
    articles: int
    mean: float
    min: float
    max: float
    positive: int
    neutral: int
    negative: int


class OverallSentiment(BaseModel):
    articles: int
    mean: float | None


class SentimentResponse(EnvelopeFields):
    model_config = ConfigDict(populate_by_name=True)

    symbol: str
    days: int
    from_: datetime = Field(alias="from")
    methods: list[str] = Field(description="The scoring methods used")
    method_note: str
    overall: OverallSentiment
    daily: list[DaySentimentOut] = Field(description="Oldest first, days with articles only")
    articles: list[ScoredArticle]
    news_providers: list[str]
