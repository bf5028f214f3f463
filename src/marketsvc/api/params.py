"""The generic ``POST /market-data`` shape: per-data-type parameters and the dispatch onto the
orchestrator's typed methods.

This is an API shape (no job uses it), so it lives in ``api/``: the orchestrator keeps typed
methods only. The GET routes validate the same fields through FastAPI; this module gives the
generic, batch and prefetch endpoints the same rules (and the same 422 on violation).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from marketsvc.analytics import INDICATORS
from marketsvc.domain import FETCHABLE_TYPES, AssetClass, DataType, Interval, Priority
from marketsvc.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from marketsvc.orchestrator import DataOrchestrator, Envelope

P = TypeVar("P", bound="_Params")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceParams(_Params):
    asset_class: AssetClass | None = None
    validate_prices: bool = Field(default=False, alias="validate")


class HistoricalParams(_Params):
    days: int = Field(default=30, ge=1, le=3650)
    timespan: Interval = Interval.DAY
    start: date | datetime | None = None
    end: date | datetime | None = None
    asset_class: AssetClass | None = None


class NewsParams(_Params):
    query: str | None = Field(default=None, min_length=1, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)


class TechnicalParams(_Params):
    indicators: list[str] = Field(default_factory=lambda: ["sma", "ema", "rsi"])
    period: int = Field(default=14, ge=2, le=500)
    timespan: Interval = Interval.DAY
    days: int = Field(default=200, ge=30, le=3650)
    asset_class: AssetClass | None = None

    @field_validator("indicators", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip().lower() for v in value.split(",") if v.strip()]
        return value

    @field_validator("indicators")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(INDICATORS))
        if unknown or not value:
            raise ValueError(f"indicators must be a non-empty subset of {', '.join(INDICATORS)}")
        return value


class FundamentalsParams(_Params):
    pass


def as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


def parse(model: type[P], params: Mapping[str, Any]) -> P:
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInputError(f"params.{where}: {first.get('msg')}") from None


def _need(symbol: str | None, data_type: DataType) -> str:
    if not symbol:
        raise InvalidInputError(f"data_type {data_type.value} needs a symbol")
    return symbol


async def dispatch(
    orch: DataOrchestrator,
    data_type: DataType,
    symbol: str | None,
    params: Mapping[str, Any],
    force_refresh: bool,
    priority: Priority,
) -> Envelope:
    if data_type not in FETCHABLE_TYPES:
        raise InvalidInputError(f"data_type {data_type.value} is served under /api/market/")
    if data_type in (DataType.PRICE, DataType.CRYPTO_PRICE, DataType.STOCK_PRICE):
        p = parse(PriceParams, params)
        return await orch.price(
            _need(symbol, data_type),
            p.asset_class,
            force_refresh=force_refresh,
            priority=priority,
            validate=p.validate_prices,
            data_type=data_type,
        )
    if data_type is DataType.HISTORICAL:
        h = parse(HistoricalParams, params)
        return await orch.historical(
            _need(symbol, data_type),
            h.asset_class,
            interval=h.timespan,
            start=as_datetime(h.start),
            end=as_datetime(h.end),
            days=h.days,
            force_refresh=force_refresh,
            priority=priority,
        )
    if data_type is DataType.NEWS:
        n = parse(NewsParams, params)
        return await orch.news(
            query=n.query,
            symbol=symbol,
            limit=n.limit,
            force_refresh=force_refresh,
            priority=priority,
        )
    if data_type is DataType.TECHNICAL:
        t = parse(TechnicalParams, params)
        return await orch.technical(
            _need(symbol, data_type),
            t.asset_class,
            indicators=t.indicators,
            period=t.period,
            interval=t.timespan,
            days=t.days,
            force_refresh=force_refresh,
            priority=priority,
        )
    parse(FundamentalsParams, params)
    return await orch.fundamentals(
        _need(symbol, data_type), force_refresh=force_refresh, priority=priority
    )
