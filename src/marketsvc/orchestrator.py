"""DataOrchestrator: the only entry point for the API and the jobs.

For every request: tiered cache (with singleflight and serve-stale) → provider chain (breakers,
the call planner, fallback) → optional cross-provider validation → write-back. History goes
through the history store (gap-only fetching) and indicators are computed locally from it.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from marketsvc import serialize
from marketsvc.aggregate import merge_articles, validate_prices
from marketsvc.cache.base import CacheKey
from marketsvc.cache.policy import CachePolicy, CacheResult
from marketsvc.cache.tiered import TieredCache
from marketsvc.chain_runner import ChainRunner
from marketsvc.chains import chain_for
from marketsvc.db.candles import CandleRepository
from marketsvc.domain import (
    Article,
    AssetClass,
    Candle,
    Capability,
    DataType,
    Freshness,
    Interval,
    Priority,
    Quote,
)
from marketsvc.errors import InvalidInputError, MarketsvcError, NotFoundError, ProviderError
from marketsvc.history import HistoryService
from marketsvc.history.service import FetchedCandles
from marketsvc.providers.base import Provider
from marketsvc.symbols import Instrument, resolve

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


@dataclass(frozen=True, slots=True)
class Envelope:
    """A data answer plus where it came from and how fresh it is. ``payload`` is the data as
    JSON object bytes, exactly as cached, so the hot path can send it without a round trip
    through Python objects."""

    payload: bytes
    source: str
    cached: bool
    freshness: Freshness
    age_seconds: float
    fetched_at: datetime
    tier: str = "upstream"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return serialize.loads(self.payload)


def _freshness(native: Freshness, age: float, stale: bool) -> Freshness:
    """A provider's native freshness, downgraded by the answer's age."""
    if stale:
        return Freshness.STALE
    if age < 5 and native is Freshness.REALTIME:
        return Freshness.REALTIME
    if age < 60 and native in (Freshness.REALTIME, Freshness.NEAR_REALTIME):
        return Freshness.NEAR_REALTIME
    return Freshness.DELAYED


class DataOrchestrator:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        runner: ChainRunner,
        cache: TieredCache,
        policies: Mapping[DataType, CachePolicy],
        candle_repo: CandleRepository,
        *,
        chain_overrides: Mapping[str, Sequence[str]] | None = None,
        max_spread_pct: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.providers = dict(providers)
        self.runner = runner
        self.cache = cache
        self.policies = dict(policies)
        self.history = HistoryService(
            candle_repo, self._history_fetch, clock, max_bars=self._max_bars
        )
        self.chain_overrides = dict(chain_overrides or {})
        self.max_spread_pct = max_spread_pct
        self._clock = clock
        self._requests: deque[float] = deque()
        self._symbol_counts: Counter[str] = Counter()
        self._hits = Counter[str]()
        self.active = 0
        self._background: set[asyncio.Task[Any]] = set()

    # -- bookkeeping -------------------------------------------------------------------------

    def _track(self, key: str) -> None:
        now = self._clock()
        self._requests.append(now)
        while self._requests and self._requests[0] < now - 3600:
            self._requests.popleft()
        self._symbol_counts[key] += 1

    def top_symbols(self, kind: str, n: int = 10) -> list[str]:
        prefix = f"{kind}:"
        ranked = [s for s, _ in self._symbol_counts.most_common() if s.startswith(prefix)]
        return [s.removeprefix(prefix) for s in ranked[:n]]

    def chain(self, capability: Capability, asset_class: AssetClass | None) -> list[str]:
        return chain_for(capability, asset_class, self.providers, self.chain_overrides)

    async def _cached(
        self,
        data_type: DataType,
        cache_symbol: str,
        params: Mapping[str, object],
        load: Callable[[], Awaitable[tuple[dict[str, Any], str]]],
        *,
        force_refresh: bool,
        native: Freshness,
    ) -> Envelope:
        key = CacheKey.of(data_type, cache_symbol, params)

        async def loader() -> tuple[bytes, str]:
            data, source = await load()
            return serialize.dumps(data), source

        policy = self.policies[data_type]
        self.active += 1
        try:
            if force_refresh:
                result = await self._refresh(key, loader, policy)
            else:
                result = await self.cache.get_or_load(key, loader, policy)
        finally:
            self.active -= 1
        self._hits[result.tier] += 1
        entry = result.entry
        return Envelope(
            payload=entry.payload,
            source=entry.source,
            cached=result.cached,
            freshness=_freshness(native, result.age_seconds, result.stale),
            age_seconds=result.age_seconds,
            fetched_at=datetime.fromtimestamp(entry.fetched_at, tz=UTC),
            tier=result.tier,
        )

    async def _refresh(
        self,
        key: CacheKey,
        loader: Callable[[], Awaitable[tuple[bytes, str]]],
        policy: CachePolicy,
    ) -> CacheResult:
        """Bypass the cache for the read, write the answer back; if upstream fails, whatever
        the cache still holds is served (stale-if-error), else the error propagates."""
        try:
            payload, source = await loader()
        except (NotFoundError, InvalidInputError):
            raise
        except MarketsvcError as exc:
            failure = exc

            async def failing() -> tuple[bytes, str]:
                raise failure

            return await self.cache.get_or_load(key, failing, policy)
        fresh = policy.entry(payload, source, self._clock())
        await self.cache.write([(key.text, fresh)])
        return CacheResult(fresh, "upstream", stale=False, age_seconds=0.0)

    # -- prices -----------------------------------------------------------------------------

    async def price(
        self,
        raw_symbol: str,
        asset_class: AssetClass | None = None,
        *,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
        validate: bool = False,
        data_type: DataType = DataType.PRICE,
    ) -> Envelope:
        inst = resolve(raw_symbol, asset_class)
        if data_type is DataType.CRYPTO_PRICE and asset_class is None:
            inst = resolve(raw_symbol, AssetClass.CRYPTO)
        elif data_type is DataType.STOCK_PRICE and asset_class is None:
            inst = resolve(raw_symbol, AssetClass.STOCK)
        self._track(f"{inst.asset_class.value}:{inst.symbol}")
        chain = self.chain(Capability.QUOTE, inst.asset_class)

        async def load() -> tuple[dict[str, Any], str]:
            quote, source = await self.runner.run(
                chain,
                "quote",
                lambda p: p.quote(inst.symbol, inst.asset_class),
                symbol=inst.symbol,
                asset_class=inst.asset_class,
                priority=priority,
                batch_item=inst.symbol,
            )
            return serialize.quote_data(quote), source

        native = self._native_freshness(chain)
        env = await self._cached(
            DataType.PRICE,
            f"{inst.asset_class.value}:{inst.symbol}",
            {},
            load,
            force_refresh=force_refresh,
            native=native,
        )
        if validate:
            env = await self._with_validation(env, inst, chain, priority)
        return env

    def _native_freshness(self, chain: list[str]) -> Freshness:
        return self.providers[chain[0]].info.quote_freshness if chain else Freshness.DELAYED

    async def validate_price(self, inst: Instrument, priority: Priority) -> dict[str, Any]:
        """Ask up to three providers of the chain for the same price and compare."""
        chain = self.chain(Capability.QUOTE, inst.asset_class)[:3]

        async def one(name: str) -> tuple[str, Quote | None]:
            try:
                quote: Quote = await self.runner.call_one(
                    name,
                    "quote",
                    lambda p: p.quote(inst.symbol, inst.asset_class),
                    priority=priority,
                    deadline=self.runner.deadline(priority),
                    batch=(f"quote:{inst.asset_class}", inst.symbol, inst.asset_class),
                )
            except (ProviderError, MarketsvcError):
                return name, None
            return name, quote

        answers = await asyncio.gather(*(one(n) for n in chain))
        prices = {name: q.price for name, q in answers if q is not None}
        return validate_prices(prices, self.max_spread_pct).as_dict()

    async def _with_validation(
        self, env: Envelope, inst: Instrument, chain: list[str], priority: Priority
    ) -> Envelope:
        validation = await self.validate_price(inst, priority)
        return Envelope(
            env.payload,
            env.source,
            env.cached,
            env.freshness,
            env.age_seconds,
            env.fetched_at,
            env.tier,
            {**env.extra, "validation": validation},
        )

    async def prices(
        self,
        symbols: Sequence[str],
        *,
        priority: Priority = Priority.BATCH,
        force_refresh: bool = False,
    ) -> list[Envelope | MarketsvcError]:
        """Many prices at once; the planner merges the per-symbol calls into batch calls."""

        async def one(sym: str) -> Envelope | MarketsvcError:
            try:
                return await self.price(sym, priority=priority, force_refresh=force_refresh)
            except MarketsvcError as exc:
                return exc

        return list(await asyncio.gather(*(one(s) for s in symbols)))

    # -- history and indicators ---------------------------------------------------------------

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

    async def historical(
        self,
        raw_symbol: str,
        asset_class: AssetClass | None = None,
        *,
        interval: Interval = Interval.DAY,
        start: datetime | None = None,
        end: datetime | None = None,
        days: int = 30,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        inst = resolve(raw_symbol, asset_class)
        self._track(f"{inst.asset_class.value}:{inst.symbol}")
        start, end = self._range(start, end, days, interval)

        async def load() -> tuple[dict[str, Any], str]:
            bars = await self.candles(inst, interval, start, end, priority)
            data = {
                "symbol": inst.symbol,
                "asset_class": inst.asset_class.value,
                "timespan": interval.value,
                "candles": [serialize.candle_data(c) for c in bars],
            }
            return data, "history"

        params = {"i": interval.value, "s": start.isoformat(), "e": end.isoformat()}
        return await self._cached(
            DataType.HISTORICAL,
            f"{inst.asset_class.value}:{inst.symbol}",
            params,
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )

    def _range(
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

    async def technical(
        self,
        raw_symbol: str,
        asset_class: AssetClass | None = None,
        *,
        indicators: Sequence[str],
        period: int = 14,
        interval: Interval = Interval.DAY,
        days: int = 200,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        from marketsvc.analytics import compute

        names = list(dict.fromkeys(i.strip().lower() for i in indicators if i.strip()))
        inst = resolve(raw_symbol, asset_class)
        self._track(f"{inst.asset_class.value}:{inst.symbol}")
        start, end = self._range(None, None, days, interval)

        async def load() -> tuple[dict[str, Any], str]:
            bars = await self.candles(inst, interval, start, end, priority)
            data = {
                "symbol": inst.symbol,
                "asset_class": inst.asset_class.value,
                "timespan": interval.value,
                "period": period,
                "timestamps": [c.ts.isoformat() for c in bars],
                "indicators": compute(names, bars, period),
            }
            return data, "history"

        params = {
            "n": sorted(names),
            "p": period,
            "i": interval.value,
            "d": days,
            "day": start.date().isoformat(),
        }
        return await self._cached(
            DataType.TECHNICAL,
            f"{inst.asset_class.value}:{inst.symbol}",
            params,
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )

    # -- news and fundamentals ----------------------------------------------------------------

    async def news(
        self,
        *,
        query: str | None = None,
        symbol: str | None = None,
        limit: int = 20,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        if not query and not symbol:
            raise InvalidInputError("give a query or a symbol")
        sym = resolve(symbol).symbol if symbol else None
        chain = self.chain(Capability.NEWS, None)

        async def load() -> tuple[dict[str, Any], str]:
            async def one(name: str) -> tuple[str, list[Article] | None]:
                try:
                    arts: list[Article] = await self.runner.call_one(
                        name,
                        "news",
                        lambda p: p.news(query=query, symbol=sym, limit=limit),
                        priority=priority,
                        deadline=self.runner.deadline(priority),
                    )
                except (ProviderError, MarketsvcError):
                    return name, None
                return name, arts

            answers = await asyncio.gather(*(one(n) for n in chain))
            answered = [(n, a) for n, a in answers if a is not None]
            if not answered:
                from marketsvc.errors import AllProvidersFailedError

                raise AllProvidersFailedError("no news provider answered")
            merged = merge_articles((a for _, a in answered), limit)
            data = {
                "query": query,
                "symbol": sym,
                "articles": [serialize.article_data(a) for a in merged],
                "providers": [n for n, _ in answered],
            }
            return data, "+".join(n for n, _ in answered)[:64]

        return await self._cached(
            DataType.NEWS,
            f"q:{(sym or query or '')[:24]}",
            {"q": query, "s": sym, "l": limit},
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )

    async def fundamentals(
        self, raw_symbol: str, *, force_refresh: bool = False, priority: Priority = Priority.MEDIUM
    ) -> Envelope:
        inst = resolve(raw_symbol, AssetClass.STOCK)
        self._track(f"stock:{inst.symbol}")
        chain = self.chain(Capability.FUNDAMENTALS, AssetClass.STOCK)

        async def load() -> tuple[dict[str, Any], str]:
            fund, source = await self.runner.run(
                chain,
                "fundamentals",
                lambda p: p.fundamentals(inst.symbol),
                symbol=inst.symbol,
                asset_class=AssetClass.STOCK,
                priority=priority,
            )
            return serialize.fundamentals_data(fund), source

        return await self._cached(
            DataType.FUNDAMENTALS,
            f"stock:{inst.symbol}",
            {},
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )

    # -- generic envelope, batch, admin ---------------------------------------------------------

    async def fetch(
        self,
        data_type: DataType,
        symbol: str | None,
        params: Mapping[str, Any],
        *,
        force_refresh: bool = False,
        priority: Priority = Priority.MEDIUM,
    ) -> Envelope:
        from marketsvc.request_params import dispatch

        return await dispatch(self, data_type, symbol, params, force_refresh, priority)

    async def invalidate(self, data_type: DataType | None, symbol: str | None) -> dict[str, Any]:
        symbols: list[str | None] = [None]
        if symbol:
            inst = resolve(symbol)
            # Cache keys carry the asset class; clear both readings of an ambiguous symbol.
            symbols = [f"{ac.value}:{inst.symbol}" for ac in AssetClass]
        cleared: dict[str, Any] = {"failed_tiers": []}
        for sym in symbols:
            report = await self.cache.invalidate(data_type=data_type, symbol=sym)
            for tier, count in report.removed.items():
                cleared[tier] = cleared.get(tier, 0) + count
            cleared["failed_tiers"] = sorted({*cleared["failed_tiers"], *report.failed})
        return cleared

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run background work (prefetch); the task is kept until it ends."""

        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- health and statistics ----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.providers:
            br = self.runner.breakers[name].snapshot()
            st = self.runner.stats[name]
            state = {"closed": "up", "half_open": "degraded", "open": "down"}[str(br["state"])]
            if state == "up" and st.calls and st.successes / st.calls < 0.8:
                state = "degraded"
            out[name] = {
                "status": state,
                "circuit": br,
                "last_error": st.last_error,
                "latency_ms": round(st.last_latency_ms, 3) if st.last_latency_ms else None,
                "calls": st.calls,
            }
        return out

    def stats(self) -> dict[str, Any]:
        now = self._clock()
        while self._requests and self._requests[0] < now - 3600:
            self._requests.popleft()
        total = sum(self._hits.values())
        cached = total - self._hits.get("upstream", 0)
        return {
            "requests_last_hour": len(self._requests),
            "active_requests": self.active,
            "cache_hit_rate": round(cached / total, 4) if total else None,
            "answers_by_tier": dict(self._hits),
            "calls_per_provider": {n: s.calls for n, s in self.runner.stats.items()},
            "errors_per_provider": {n: dict(s.errors) for n, s in self.runner.stats.items()},
            "top_symbols": [s for s, _ in self._symbol_counts.most_common(10)],
        }
