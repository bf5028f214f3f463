"""The generic ``POST /market-data`` shape: per-data-type parameters and the dispatch onto the
orchestrator's typed methods.

This is an API shape (no job uses it), so it lives in ``api/``: the orchestrator keeps typed
methods only. The GET routes validate the same fields through FastAPI; this module gives the
generic, batch and prefetch endpoints the same rules (and the same 422 on violation).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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


# Market history starts with the Unix epoch for every provider we call (and their timestamps
# are seconds or milliseconds since it); nothing ends later than tomorrow in any time zone.
EARLIEST_DATE = date(1970, 1, 1)


def check_history_window(
    start: date | datetime | None,
    end: date | datetime | None,
    days: int,
    where: str,
    today: date | None = None,
) -> None:
    """InvalidInputError unless ``start``/``end`` lie in 1970-01-01 .. today + 1 day (UTC) and
    ``start`` comes before ``end``: dates outside it used to reach providers as negative or
    far-future timestamps. ``where`` names the fields in the message (``query`` / ``params``)."""
    latest = (today or datetime.now(UTC).date()) + timedelta(days=1)
    window = f"{EARLIEST_DATE.isoformat()} .. {latest.isoformat()}"
    first, last = _day(start), _day(end)
    for name, value in (("start", first), ("end", last)):
        if value is not None and not EARLIEST_DATE <= value <= latest:
            raise InvalidInputError(
                f"{where}.{name}: {value.isoformat()} is outside the valid range {window}"
            )
    if first is not None and last is not None and first > last:
        raise InvalidInputError(f"{where}.start: {first} is after {where}.end {last}")
    if first is None and last is not None and last - timedelta(days=days) < EARLIEST_DATE:
        raise InvalidInputError(
            f"{where}.days: {days} days before end {last} is before {EARLIEST_DATE}; "
            f"the valid range is {window}"
        )


def _day(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        try:
            return (value.astimezone(UTC) if value.tzinfo else value).date()
        except OverflowError:  # 0001-01-01T00:00+05:00 has no UTC date; out of range anyway
            return value.date()
    return value


def parse(model: type[P], params: Mapping[str, Any]) -> P:
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInputError(f"params.{where}: {first.get('msg')}") from None


_OWN_ROUTES = {
    DataType.CHART: "/api/market/chart/{symbol}",
    DataType.ANALYTICS: "/api/market/analytics/{kind}",
    DataType.PATTERNS: "/api/market/patterns/{symbol}",
    DataType.ANOMALIES: "/api/market/anomalies",
    DataType.SENTIMENT: "/api/market/sentiment/{symbol}",
}


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
        # Derived answers and images are no envelope of this endpoint: say where they live.
        route = _OWN_ROUTES.get(data_type, "/api/market/")
        raise InvalidInputError(f"data_type {data_type.value} is served by GET {route}")
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
        check_history_window(h.start, h.end, h.days, "params")
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
