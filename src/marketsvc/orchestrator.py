"""DataOrchestrator: the only entry point for the API and the jobs (first cut: provider chain
with fallback; the cache and planner slot in front of the providers)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marketsvc.chains import chain_for
from marketsvc.domain import AssetClass, Capability, Freshness, Priority, Quote
from marketsvc.errors import (
    AllProvidersFailedError,
    NotFoundError,
    ProviderError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.providers.base import Provider
from marketsvc.symbols import resolve


@dataclass(frozen=True, slots=True)
class Envelope:
    """A data answer plus where it came from and how fresh it is."""

    data: dict[str, Any]
    source: str
    cached: bool
    freshness: Freshness
    age_seconds: float
    fetched_at: datetime
    tier: str = "upstream"
    extra: dict[str, Any] = field(default_factory=dict)


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


class DataOrchestrator:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.providers = dict(providers)
        self._clock = clock

    async def price(
        self,
        raw_symbol: str,
        asset_class: AssetClass | None = None,
        *,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        inst = resolve(raw_symbol, asset_class)
        chain = chain_for(Capability.QUOTE, inst.asset_class, self.providers)
        errors: list[ProviderError] = []
        not_found = 0
        for name in chain:
            provider = self.providers[name]
            try:
                quote = await provider.quote(inst.symbol, inst.asset_class)
            except SymbolNotFoundError as exc:
                not_found += 1
                errors.append(exc)
                continue
            except UnsupportedError:
                continue
            except ProviderError as exc:
                errors.append(exc)
                continue
            now = self._clock()
            return Envelope(
                data=quote_data(quote),
                source=name,
                cached=False,
                freshness=provider.info.quote_freshness,
                age_seconds=0.0,
                fetched_at=datetime.fromtimestamp(now, tz=UTC),
            )
        if errors and not_found == len(errors):
            raise NotFoundError(inst.symbol)
        raise AllProvidersFailedError(
            f"no provider could answer for {inst.symbol} "
            f"({', '.join(f'{e.provider}: {e.kind}' for e in errors) or 'none capable'})"
        )
