"""Where the history store's bars come from: the provider chain for (history, asset class)
that offers the bar size, through breakers and the planner, paged by what the provider returns
per call; plus the range rules every history request obeys."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from marketsvc.cache.base import MAX_SOURCE_LENGTH
from marketsvc.db.candles import CandleRepository
from marketsvc.domain import AssetClass, Candle, Capability, Interval, Priority, iso_z
from marketsvc.errors import InvalidInputError
from marketsvc.history import HistoryService
from marketsvc.history.service import FORMING_TTL, FetchedCandles
from marketsvc.orchestrator.chain_runner import ChainRunner
from marketsvc.providers.base import Provider
from marketsvc.symbols import Instrument

# Longest range per bar size (about 10,000-20,000 bars): bigger asks are refused with a 422
# rather than queued behind minutes of paging.
MAX_RANGE_DAYS: dict[Interval, int] = {
    Interval.MINUTE: 7,
    Interval.HOUR: 730,
    Interval.DAY: 3660,
    Interval.WEEK: 3660,
}

# The priority of the request on whose behalf the history store fetches (the store calls
# back into the orchestrator without knowing about priorities).
_history_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "history_priority", default=Priority.LOW
)


class HistorySource:
    """Owns the HistoryService and feeds it from the providers."""

    def __init__(
        self,
        providers: dict[str, Provider],
        runner: ChainRunner,
        chain: Callable[[Capability, AssetClass | None], list[str]],
        repo: CandleRepository,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.providers = providers
        self.runner = runner
        self.chain = chain
        self._clock = clock
        self.history = HistoryService(repo, self._history_fetch, clock, max_bars=self._max_bars)

    def _history_chain(self, asset_class: AssetClass, interval: Interval) -> list[str]:
        chain = self.chain(Capability.HISTORY, asset_class)
        return [n for n in chain if interval in self.providers[n].info.history_intervals]

    def _max_bars(self, asset_class: AssetClass, interval: Interval) -> int:
        # Page by what the preferred provider returns per call; a fallback provider that
        # returns less is paged further inside _history_fetch.
        chain = self._history_chain(asset_class, interval)
        first = self.providers[chain[0]].info.max_bars_per_call if chain else 0
        return first if first > 0 else 1000

    async def _history_fetch(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> FetchedCandles:
        chain = self._history_chain(asset_class, interval)
        if not chain:
            raise InvalidInputError(f"no enabled provider offers {interval.value} bars")

        async def page_all(p: Provider) -> list[Candle]:
            bars: list[Candle] = []
            cursor = start
            while cursor < end:
                page = await p.history(symbol, asset_class, interval, cursor, end)
                bars.extend(page)
                if not page or len(page) < max(p.info.max_bars_per_call, 1):
                    break
                cursor = page[-1].ts + timedelta(seconds=interval.seconds)
            return bars

        bars, source = await self.runner.run(
            chain,
            "history",
            page_all,
            symbol=symbol,
            asset_class=asset_class,
            priority=_history_priority.get(),
        )
        return FetchedCandles(bars, source)

    async def candles(
        self,
        inst: Instrument,
        interval: Interval,
        start: datetime,
        end: datetime,
        priority: Priority,
    ) -> list[Candle]:
        token = _history_priority.set(priority)
        try:
            return await self.history.get(inst.symbol, inst.asset_class, interval, start, end)
        finally:
            _history_priority.reset(token)

    async def provenance(
        self, inst: Instrument, interval: Interval, start: datetime, end: datetime
    ) -> tuple[str, dict[str, Any]]:
        """The answer's ``source`` (the providers the candles came from, joined by ``+``) and
        the fields that say the history store served them and which provider covered which
        range."""
        spans = await self.history.sources(inst.symbol, inst.asset_class, interval, start, end)
        names = list(dict.fromkeys(s.source for s in spans))
        source = "+".join(names)[:MAX_SOURCE_LENGTH] if names else "history"
        return source, {
            "served_from": "history_store",
            "providers": [
                {
                    "provider": s.source,
                    "from": iso_z(datetime.fromtimestamp(s.first, tz=UTC)),
                    "to": iso_z(datetime.fromtimestamp(s.last, tz=UTC)),
                    "candles": s.count,
                }
                for s in spans
            ],
        }

    def forming_ttl(self, interval: Interval) -> float:
        return FORMING_TTL.get(interval, 60.0)

    def range(
        self,
        start: datetime | None,
        end: datetime | None,
        days: int,
        interval: Interval = Interval.DAY,
    ) -> tuple[datetime, datetime]:
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        end = end or now
        start = start or (end - timedelta(days=days))
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        if start >= end:
            raise InvalidInputError("start must be before end")
        limit = MAX_RANGE_DAYS[interval]
        if end - start > timedelta(days=limit):
            raise InvalidInputError(f"a {interval.value} range may cover at most {limit} days")
        return start, min(end, now + timedelta(days=1))
