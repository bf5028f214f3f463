"""DataOrchestrator: the only entry point for the API and the jobs.

For every request: tiered cache (with singleflight and serve-stale) → provider chain (breakers,
the call planner, fallback) → optional cross-provider validation → write-back. History goes
through the history store (gap-only fetching) and indicators are computed locally from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from marketsvc.cache.policy import CachePolicy
from marketsvc.cache.tiered import TieredCache
from marketsvc.db.candles import CandleRepository
from marketsvc.db.universes import UniverseRepository
from marketsvc.domain import (
    Article,
    AssetClass,
    Capability,
    DataType,
    Freshness,
    Interval,
    Priority,
    Quote,
    iso_z,
)
from marketsvc.errors import (
    AllProvidersFailedError,
    InvalidInputError,
    MarketsvcError,
    NotFoundError,
)
from marketsvc.orchestrator import serialize
from marketsvc.orchestrator.aggregate import merge_articles, validate_prices
from marketsvc.orchestrator.analytics import Analytics
from marketsvc.orchestrator.answers import CachedAnswers, Envelope
from marketsvc.orchestrator.breaker import BreakerState
from marketsvc.orchestrator.chain_runner import USER_WAITING, BatchSpec, ChainRunner
from marketsvc.orchestrator.chains import chain_for
from marketsvc.orchestrator.history_source import HistorySource
from marketsvc.orchestrator.sentiment import NewsSentiment, with_sentiment
from marketsvc.orchestrator.universes import UniverseService, with_resolution
from marketsvc.orchestrator.usage import UsageTracker
from marketsvc.providers.base import Provider
from marketsvc.symbols import Instrument, resolve
from marketsvc.universe import Resolution

_FORCED_CLASS = {DataType.CRYPTO_PRICE: AssetClass.CRYPTO, DataType.STOCK_PRICE: AssetClass.STOCK}


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
        universe_repo: UniverseRepository | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.runner = runner
        self.cache = cache
        self.source = HistorySource(self.providers, runner, self.chain, candle_repo, clock)
        self.history = self.source.history
        self.chain_overrides = dict(chain_overrides or {})
        self.max_spread_pct = max_spread_pct
        self._clock = clock
        self.usage = UsageTracker(clock)
        self.answers = CachedAnswers(
            cache,
            policies,
            self.usage,
            clock,
            provider_freshness={n: p.info.quote_freshness for n, p in self.providers.items()},
        )
        # statistics, patterns, anomalies; news sentiment
        self.analytics = Analytics(
            self.source,
            self.answers,
            self.usage,
            self.validate_price,
            max_spread_pct,
            resolve=self.instrument,
        )
        self.sentiment = NewsSentiment(self.source, self.answers, self.usage, self.news)
        self._background: set[asyncio.Task[Any]] = set()
        self._chains: dict[tuple[Capability, AssetClass | None], list[str]] = {}
        self.universes = UniverseService(self.providers, runner, universe_repo, clock=clock)
        self.resolver = self.universes.resolver
        self._resolved: dict[tuple[str, AssetClass | None], tuple[Resolution, str]] = {}
        self._resolved_for: object = None

    # -- bookkeeping -------------------------------------------------------------------------

    def instrument(self, raw_symbol: str, asset_class: AssetClass | None = None) -> Instrument:
        """``raw_symbol`` as the stored symbol universes read it: the one rule every answer
        (prices, history, analytics, charts, streams) resolves symbols by."""
        return self.resolver.resolve(raw_symbol, asset_class).instrument

    def top_symbols(self, kind: str, n: int = 10) -> list[str]:
        return self.usage.top(kind, n)

    def chain(self, capability: Capability, asset_class: AssetClass | None) -> list[str]:
        """The enabled providers for the pair, in preference order (fixed after start-up, so
        computed once; callers must not modify the list)."""
        key = (capability, asset_class)
        chain = self._chains.get(key)
        if chain is None:
            chain = chain_for(capability, asset_class, self.providers, self.chain_overrides)
            self._chains[key] = chain
        return chain

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
        # crypto_price / stock_price name the asset class unless the caller forced one.
        resolution = self.resolver.resolve(raw_symbol, asset_class or _FORCED_CLASS.get(data_type))
        try:
            env = await self._price(resolution.instrument, force_refresh, priority, validate)
        except NotFoundError:
            if resolution.fallback is None:
                raise
            # Every stock provider said "not found" for a ticker a crypto list carries.
            resolution = resolution.fell_back()
            env = await self._price(resolution.instrument, force_refresh, priority, validate)
        return with_resolution(env, resolution)

    def price_hit(self, raw_symbol: str, asset_class: AssetClass | None = None) -> Envelope | None:
        """``price(raw_symbol, asset_class)`` when a fresh L1 entry answers it, computed without
        awaiting (the same Envelope, the same usage counts); ``None`` — nothing counted — when
        ``price`` must run. Raises InvalidInputError for a symbol ``price`` would refuse."""
        resolution, cache_symbol = self._hit_resolution(raw_symbol, asset_class)
        env = self.answers.answer_hit(DataType.PRICE, cache_symbol)
        if env is None:
            return None
        self.usage.track(cache_symbol)
        return with_resolution(env, resolution)

    def _hit_resolution(
        self, raw_symbol: str, asset_class: AssetClass | None
    ) -> tuple[Resolution, str]:
        """The resolver's answer and its cache symbol, remembered while the universe index
        stays the same object (a refresh replaces it): resolving was a third of an L1 hit."""
        index = self.universes.store.index
        if index is not self._resolved_for or len(self._resolved) > 20_000:
            self._resolved = {}
            self._resolved_for = index
        memo = (raw_symbol, asset_class)
        found = self._resolved.get(memo)
        if found is None:
            resolution = self.resolver.resolve(raw_symbol, asset_class)
            inst = resolution.instrument
            found = self._resolved[memo] = (resolution, f"{inst.asset_class.value}:{inst.symbol}")
        return found

    async def _price(
        self, inst: Instrument, force_refresh: bool, priority: Priority, validate: bool
    ) -> Envelope:
        self.usage.track(f"{inst.asset_class.value}:{inst.symbol}")
        chain = self.chain(Capability.QUOTE, inst.asset_class)

        async def load() -> tuple[dict[str, Any], str]:
            quote, source = await self.runner.run(
                chain,
                "quote",
                lambda p: p.quote(inst.symbol, inst.asset_class),
                symbol=inst.symbol,
                asset_class=inst.asset_class,
                priority=priority,
                batch=BatchSpec.quotes(inst.symbol, inst.asset_class),
            )
            return serialize.quote_data(quote), source

        # Freshness is judged by the provider that answered and the quote's own time.
        env = await self.answers.answer(
            DataType.PRICE,
            f"{inst.asset_class.value}:{inst.symbol}",
            {},
            load,
            force_refresh=force_refresh,
        )
        if validate:
            env = await self._with_validation(env, inst, chain, priority)
        return env

    async def validate_price(self, inst: Instrument, priority: Priority) -> dict[str, Any]:
        """Ask up to three providers of the chain for the same price and compare."""
        chain = self.chain(Capability.QUOTE, inst.asset_class)[:3]

        quotes: dict[str, Quote] = await self.runner.gather(
            chain,
            "quote",
            lambda p: p.quote(inst.symbol, inst.asset_class),
            priority=priority,
            batch=BatchSpec.quotes(inst.symbol, inst.asset_class),
        )
        prices = {name: q.price for name, q in quotes.items()}
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
        resolution = self.resolver.resolve(raw_symbol, asset_class)
        inst = resolution.instrument
        self.usage.track(f"{inst.asset_class.value}:{inst.symbol}")
        open_ended = end is None
        asked_start = start
        start, end = self.source.range(start, end, days, interval)

        async def load() -> tuple[dict[str, Any], str]:
            bars = await self.source.candles(inst, interval, start, end, priority)
            source, spans = await self.source.provenance(inst, interval, start, end)
            data = {
                "symbol": inst.symbol,
                "asset_class": inst.asset_class.value,
                "timespan": interval.value,
                "candles": [serialize.candle_data(c) for c in bars],
                **spans,
            }
            return data, source

        params: dict[str, object] = {"i": interval.value, "s": start.isoformat()}
        if open_ended:
            # "Up to now": one key per forming-bar period, not per second, so a repeat within
            # it is a cache hit (and the forming bar is at most that old).
            period = self.source.forming_ttl(interval)
            params["e"] = f"now/{int(self._clock() // period)}"
            if asked_start is None:
                params["s"] = f"-{days}d"
        else:
            params["e"] = end.isoformat()
        env = await self.answers.answer(
            DataType.HISTORICAL,
            f"{inst.asset_class.value}:{inst.symbol}",
            params,
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )
        return with_resolution(env, resolution)

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
        resolution = self.resolver.resolve(raw_symbol, asset_class)
        inst = resolution.instrument
        self.usage.track(f"{inst.asset_class.value}:{inst.symbol}")
        start, end = self.source.range(None, None, days, interval)

        async def load() -> tuple[dict[str, Any], str]:
            bars = await self.source.candles(inst, interval, start, end, priority)
            source, spans = await self.source.provenance(inst, interval, start, end)
            data = {
                "symbol": inst.symbol,
                "asset_class": inst.asset_class.value,
                "timespan": interval.value,
                "period": period,
                "timestamps": [iso_z(c.ts) for c in bars],
                "indicators": compute(names, bars, period),
                **spans,
            }
            return data, source

        params = {
            "n": sorted(names),
            "p": period,
            "i": interval.value,
            "d": days,
            "day": start.date().isoformat(),
        }
        env = await self.answers.answer(
            DataType.TECHNICAL,
            f"{inst.asset_class.value}:{inst.symbol}",
            params,
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )
        return with_resolution(env, resolution)

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
            answered: dict[str, list[Article]] = await self.runner.gather(
                chain,
                "news",
                lambda p: p.news(query=query, symbol=sym, limit=limit),
                priority=priority,
            )
            if not answered:
                raise AllProvidersFailedError("no news provider answered")
            merged = merge_articles(answered.values(), limit)
            data = {
                "query": query,
                "symbol": sym,
                "articles": [serialize.article_data(with_sentiment(a)) for a in merged],
                "providers": list(answered),
            }
            return data, "+".join(answered)[:64]

        return await self.answers.answer(
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
        self.usage.track(f"stock:{inst.symbol}")
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

        return await self.answers.answer(
            DataType.FUNDAMENTALS,
            f"stock:{inst.symbol}",
            {},
            load,
            force_refresh=force_refresh,
            native=Freshness.DELAYED,
        )

    # -- admin ---------------------------------------------------------

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

    async def sweep_cache(self) -> dict[str, int]:
        """Drop expired entries from the durable cache tier (a scheduled job)."""
        return await self.cache.sweep()

    @contextlib.contextmanager
    def for_user(self) -> Iterator[None]:
        """Work inside is for a client waiting on the answer: whatever priority it asked for,
        the request deadline (REQUEST_TIMEOUT) bounds it, not the background one."""
        token = USER_WAITING.set(True)
        try:
            yield
        finally:
            USER_WAITING.reset(token)

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
        return self.runner.health()

    def stats(self) -> dict[str, Any]:
        return {
            **self.usage.snapshot(),
            "calls_per_provider": {n: s.calls for n, s in self.runner.stats.items()},
            "errors_per_provider": self.provider_errors(),
        }

    def provider_errors(self) -> dict[str, dict[str, int]]:
        return {name: dict(s.errors) for name, s in self.runner.stats.items()}

    def breaker_states(self) -> dict[str, BreakerState]:
        return self.runner.breaker_states()

    def history_stats(self) -> dict[str, Any]:
        return asdict(self.history.stats)

    async def probe_providers(self) -> dict[str, str]:
        """The cheapest call to every provider whose circuit is not open (feeds /health)."""
        return await self.runner.probe_providers()

    # -- symbol universes (orchestrator/universes.py) -------------------------------------------

    def search(
        self, query: str, asset_class: AssetClass | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Symbols matching ``query`` from the stored universes (never an upstream call)."""
        return self.universes.search(query, asset_class, limit)

    async def refresh_universes(self) -> dict[str, Any]:
        """Fetch every provider's symbol list at LOW priority and store it (a daily job)."""
        return await self.universes.refresh()

    async def keep_universes(self, *, refresh_stale: bool) -> None:
        """Load the stored universes, then follow other replicas' refreshes (runs forever)."""
        await self.universes.keep_synced(refresh_stale=refresh_stale)
