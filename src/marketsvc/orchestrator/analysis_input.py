"""What every analytics answer starts from: daily candles out of the history store (no provider
call once stored), with the description of the candles used that each answer carries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from marketsvc.analytics.stats import PERIODS_PER_YEAR, FloatArray
from marketsvc.cache.base import MAX_SOURCE_LENGTH
from marketsvc.domain import AssetClass, Candle, Interval, Priority, iso_z
from marketsvc.errors import InvalidInputError
from marketsvc.orchestrator.history_source import HistorySource
from marketsvc.symbols import Instrument

MAX_SYMBOLS = 20


@dataclass(frozen=True, slots=True)
class SymbolBars:
    inst: Instrument
    candles: list[Candle]
    source: str
    providers: list[dict[str, Any]]

    @property
    def key(self) -> str:
        return f"{self.inst.asset_class.value}:{self.inst.symbol}"

    @property
    def periods_per_year(self) -> int:
        return PERIODS_PER_YEAR[self.inst.asset_class]

    def column(self, name: str) -> FloatArray:
        values = [getattr(c, name) for c in self.candles]
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    @property
    def dates(self) -> list[date]:
        return [c.ts.date() for c in self.candles]

    def ts(self, i: int) -> str:
        return iso_z(self.candles[i].ts)

    def used(self) -> dict[str, Any]:
        """Which candles the answer used: range, count and where they came from."""
        return {
            "symbol": self.inst.symbol,
            "asset_class": self.inst.asset_class.value,
            "timespan": Interval.DAY.value,
            "from": self.ts(0) if self.candles else None,
            "to": self.ts(-1) if self.candles else None,
            "count": len(self.candles),
            "source": self.source,
            "served_from": "history_store",
            "providers": self.providers,
        }


# How a symbol is read (DataOrchestrator.instrument: the stored symbol universes).
Resolve = Callable[[str, AssetClass | None], Instrument]


def parse_symbols(
    raw: Sequence[str], asset_class: AssetClass | None, resolve: Resolve
) -> list[Instrument]:
    """Comma lists and repeats allowed; at most ``MAX_SYMBOLS`` distinct symbols."""
    names = [s.strip() for part in raw for s in part.split(",") if s.strip()]
    if not names:
        raise InvalidInputError("give at least one symbol")
    insts = list(dict.fromkeys(resolve(n, asset_class) for n in names))
    if len(insts) > MAX_SYMBOLS:
        raise InvalidInputError(f"at most {MAX_SYMBOLS} symbols, got {len(insts)}")
    return insts


def cache_symbol(insts: Sequence[Instrument]) -> str:
    """One symbol's answers are keyed (and invalidated) by it; sets share one key space."""
    if len(insts) == 1:
        return f"{insts[0].asset_class.value}:{insts[0].symbol}"
    return "set"


def joined_source(bars: Sequence[SymbolBars]) -> str:
    names = list(dict.fromkeys(n for b in bars for n in b.source.split("+") if n))
    return "+".join(names)[:MAX_SOURCE_LENGTH] if names else "history"


async def load_bars(
    source: HistorySource,
    insts: Sequence[Instrument],
    start: datetime,
    end: datetime,
    priority: Priority,
    *,
    minimum: int = 2,
) -> list[SymbolBars]:
    """Daily candles of every instrument, concurrently; too few candles is a 422 that says
    how many there are."""

    async def one(inst: Instrument) -> SymbolBars:
        candles = await source.candles(inst, Interval.DAY, start, end, priority)
        name, spans = await source.provenance(inst, Interval.DAY, start, end)
        return SymbolBars(inst, candles, name, spans["providers"])

    bars = list(await asyncio.gather(*(one(i) for i in insts)))
    for b in bars:
        if len(b.candles) < minimum:
            raise InvalidInputError(
                f"{b.inst.symbol}: {len(b.candles)} daily candles in the range, "
                f"{minimum} needed; ask for more days"
            )
    return bars
