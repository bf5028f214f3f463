"""Defaults shared by every adapter: unsupported operations and weights from ProviderInfo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from marketsvc.config import ProviderSettings
from marketsvc.domain import Article, AssetClass, Candle, Fundamentals, Interval, Quote, SymbolMatch
from marketsvc.errors import ProviderError, UnsupportedError
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.base import ProviderInfo


class BaseProvider:
    """Adapters subclass this and override what their vendor offers."""

    info: ProviderInfo

    def __init__(self, settings: ProviderSettings, http: ProviderHttp) -> None:
        self.settings = settings
        self.http = http

    @property
    def name(self) -> str:
        return self.info.name

    def _key(self) -> str | None:
        return self.settings.api_key.get_secret_value() if self.settings.api_key else None

    def _unsupported(self, what: str) -> UnsupportedError:
        return UnsupportedError(self.info.name, f"{what} is not offered")

    def _check_asset_class(self, asset_class: AssetClass) -> None:
        if asset_class not in self.info.asset_classes:
            raise UnsupportedError(self.info.name, f"{asset_class.value} is not covered")

    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        raise self._unsupported("quote")

    async def quotes(
        self, symbols: Sequence[str], asset_class: AssetClass
    ) -> Mapping[str, Quote | ProviderError]:
        # Without a batch endpoint a "batch" is one call per symbol; the planner only batches
        # providers whose info.max_batch > 1, so this is a convenience for direct callers.
        out: dict[str, Quote | ProviderError] = {}
        for symbol in symbols:
            try:
                out[symbol] = await self.quote(symbol, asset_class)
            except ProviderError as exc:
                out[symbol] = exc
        return out

    async def history(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[Candle]:
        raise self._unsupported("history")

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        raise self._unsupported("news")

    async def fundamentals(self, symbol: str) -> Fundamentals:
        raise self._unsupported("fundamentals")

    async def search(self, query: str) -> list[SymbolMatch]:
        raise self._unsupported("search")

    async def symbols(self, asset_class: AssetClass) -> list[SymbolMatch]:
        raise self._unsupported("symbol lists")

    async def health(self) -> None:
        # The probe symbol and its asset class must agree (a set has no order to rely on).
        if AssetClass.CRYPTO in self.info.asset_classes:
            await self.quote("BTC", AssetClass.CRYPTO)
        else:
            await self.quote("AAPL", AssetClass.STOCK)

    def weight(self, operation: str, count: int = 1) -> int:
        return self.info.weights.get(operation, 1)


def utc_from_seconds(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def utc_from_ms(ts: float) -> datetime:
    return datetime.fromtimestamp(ts / 1000.0, tz=UTC)


def parse_iso(value: str) -> datetime:
    """ISO 8601 with ``Z`` or an offset → aware UTC datetime."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
