"""Runs one provider operation along a provider chain: breaker check, the call planner,
fallback to the next provider on unavailable / rate-limited / deadline errors, and the
"symbol not found" rules.

Interactive requests hedge: when a provider has not answered after ``fallback_after`` seconds,
the next one is asked too, and the first good answer wins (the others are cancelled). A slow
but correct provider is never abandoned for being slow; the whole request is bounded by
``deadline_seconds`` (REQUEST_TIMEOUT), each upstream request by the adapters' HTTP client
(PROVIDER_TIMEOUT).

A not-found answer from a provider that declares itself authoritative for the asset class
(``ProviderInfo.authoritative_not_found``) ends the chain; from a partial catalogue (Binance
only lists its trading pairs) it only moves on to the next provider.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from marketsvc.domain import AssetClass, Priority
from marketsvc.errors import (
    AllProvidersFailedError,
    BadDataError,
    NotFoundError,
    PlannerError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.orchestrator._calls import (
    BatchSpec,
    GrantedCall,
    ProviderCallStats,
    Tally,
    budgeted,
)
from marketsvc.orchestrator.breaker import BreakerPolicy, BreakerState, ProviderBreaker
from marketsvc.orchestrator.failures import FailureLog, describe, summary
from marketsvc.planner import CallPlanner
from marketsvc.providers.base import Provider

T = TypeVar("T")
log = logging.getLogger(__name__)

# True while the work is done for a client that waits for the answer (set by the API layer
# through DataOrchestrator.for_user); background jobs and prefetch leave it False.
USER_WAITING: contextvars.ContextVar[bool] = contextvars.ContextVar("user_waiting", default=False)

__all__ = ["BatchSpec", "ChainRunner", "ProviderCallStats"]

# Failures that say something about the provider's health (they feed the breaker).
_HEALTH_FAILURES = (ProviderUnavailableError, BadDataError, ProviderAuthError)


class ChainRunner:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        planner: CallPlanner,
        *,
        breaker_policy: BreakerPolicy | None = None,
        deadline_seconds: float = 10.0,
        fallback_after: float = 2.0,
        sandbox: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = providers
        self.planner = planner
        self.deadline_seconds = deadline_seconds
        self.fallback_after = fallback_after
        self.sandbox = sandbox
        self._monotonic = monotonic
        self.failure_log = FailureLog()
        # Providers whose last failure was "could not reach it at all" (DNS, refused).
        self._unreachable: dict[str, bool] = {}
        policy = breaker_policy or BreakerPolicy()
        self.breakers = {name: ProviderBreaker(policy, monotonic) for name in providers}
        self.stats = {name: ProviderCallStats() for name in providers}
        # Providers whose batch endpoint the key's plan refused: single calls from then on.
        self.no_batch: set[str] = set()

    def deadline(self, priority: Priority) -> float:
        # Background work may wait longer for budget than a user would; a user who asked for
        # LOW or BATCH priority is still waiting on the other end (REQUEST_TIMEOUT holds).
        background = priority > Priority.MEDIUM and not USER_WAITING.get()
        factor = 20.0 if background else 1.0
        return self.planner.now() + self.deadline_seconds * factor

    async def call_one(
        self,
        name: str,
        operation: str,
        fn: Callable[[Provider], Awaitable[T]],
        *,
        priority: Priority,
        deadline: float,
        start_by: float | None = None,
        batch: BatchSpec | None = None,
    ) -> T:
        """One provider, through its breaker and the planner; records stats and health.
        ``start_by`` is the latest the call may be sent or retried (planner.call)."""
        provider = self.providers[name]
        breaker = self.breakers[name]
        if not breaker.allow():
            last = self.failure_log.failing().get(name)
            after = f" after repeated failures ({last})" if last else ""
            raise ProviderUnavailableError(
                name,
                f"circuit open{after}, retry in {max(1, round(breaker.retry_in()))} s",
                reason="circuit_open",
            )
        stats = self.stats[name]
        t0 = time.perf_counter()
        batched = batch is not None and provider.info.max_batch > 1 and name not in self.no_batch
        try:
            if batch is not None and batched:
                spec = batch

                async def run_batch(items: list[str]) -> Mapping[str, Any]:
                    weight = provider.weight("quotes", len(items))
                    budget = GrantedCall(self.planner, name, deadline, weight)
                    return await budgeted(budget, provider.quotes(items, spec.asset_class))

                result: T = await self.planner.call_batched(
                    name,
                    spec.key,
                    spec.item,
                    run_batch,
                    max_batch=provider.info.max_batch,
                    weight_for=lambda n: provider.weight("quotes", n),
                    priority=priority,
                    deadline=deadline,
                    start_by=start_by,
                )
            else:
                weight = provider.weight(operation)
                result = await self.planner.call(
                    name,
                    lambda: budgeted(
                        GrantedCall(self.planner, name, deadline, weight), fn(provider)
                    ),
                    priority=priority,
                    weight=weight,
                    deadline=deadline,
                    start_by=start_by,
                )
        except ProviderAuthError as exc:
            if batched:
                # The multi-symbol endpoint is outside this key's plan (Massive's snapshots on
                # a free key): stop batching for this provider and ask for the symbol alone.
                log.warning("batch endpoint refused; using single calls", extra={"provider": name})
                self.no_batch.add(name)
                breaker.release_probe()
                return await self.call_one(
                    name,
                    operation,
                    fn,
                    priority=priority,
                    deadline=deadline,
                    start_by=start_by,
                    batch=None,
                )
            breaker.record_failure(exc.kind)
            self._count(stats, exc.kind, t0)
            stats.failures += 1
            self._failed(name, exc)
            raise
        except _HEALTH_FAILURES as exc:
            breaker.record_failure(exc.kind)
            self._count(stats, exc.kind, t0)
            stats.failures += 1
            self._failed(name, exc)
            raise
        except ProviderError as exc:  # not found, rate limited, unsupported: provider is fine
            breaker.release_probe()
            if isinstance(exc, SymbolNotFoundError):
                breaker.record_success()
                self._succeeded(name)
            elif isinstance(exc, RateLimitedError):
                self._failed(name, exc)
            self._count(stats, exc.kind, t0)
            raise
        except PlannerError as exc:
            breaker.release_probe()
            self._count(stats, type(exc).__name__, t0)
            raise
        except BaseException:
            breaker.release_probe()
            raise
        breaker.record_success()
        self._succeeded(name)
        stats.calls += 1
        stats.successes += 1
        stats.last_success_at = time.time()
        stats.last_latency_ms = (time.perf_counter() - t0) * 1000
        stats.latency_ms_total += stats.last_latency_ms
        return result

    def _failed(self, name: str, exc: ProviderError) -> None:
        self._unreachable[name] = isinstance(exc, ProviderUnavailableError) and exc.network
        self.failure_log.failed(name, exc)

    def _succeeded(self, name: str) -> None:
        self._unreachable[name] = False
        self.failure_log.succeeded(name)

    @staticmethod
    def _count(stats: ProviderCallStats, kind: str, t0: float) -> None:
        stats.calls += 1
        stats.errors[kind] = stats.errors.get(kind, 0) + 1
        stats.last_error = kind
        stats.last_latency_ms = (time.perf_counter() - t0) * 1000

    async def run(
        self,
        chain: list[str],
        operation: str,
        fn: Callable[[Provider], Awaitable[T]],
        *,
        symbol: str,
        asset_class: AssetClass | None,
        priority: Priority,
        batch: BatchSpec | None = None,
    ) -> tuple[T, str]:
        """First good answer along ``chain``; (result, provider name).

        Interactive priorities hedge (module docstring); background work asks one provider
        at a time and waits its turn."""
        deadline = self.deadline(priority)
        hedge = priority <= Priority.MEDIUM
        tally = Tally()
        waiting = list(chain)
        running: dict[asyncio.Task[T], str] = {}

        def start_next() -> None:
            name = waiting.pop(0)
            # A caller with providers left to try does not wait out this one's queue or
            # Retry-After (start_by), but takes its answer if it is already on the way.
            start_by = (
                min(deadline, self.planner.now() + self.fallback_after)
                if hedge and waiting
                else None
            )
            task = asyncio.ensure_future(
                self.call_one(
                    name,
                    operation,
                    fn,
                    priority=priority,
                    deadline=deadline,
                    start_by=start_by,
                    batch=batch,
                )
            )
            running[task] = name

        try:
            while running or waiting:
                if not running:
                    start_next()
                left = deadline - self.planner.now()
                if left <= 0:
                    for name in running.values():
                        tally.failures[name] = "no answer before the deadline"
                    break
                patience = self.fallback_after if hedge and waiting else left
                done, _ = await asyncio.wait(
                    running, timeout=min(left, patience), return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    if waiting and self.planner.now() < deadline:
                        start_next()  # hedge: ask the next provider too, keep waiting
                    continue
                for task in sorted(done, key=lambda t: chain.index(running[t])):
                    name = running.pop(task)
                    exc = task.exception()
                    if exc is None:
                        return task.result(), name
                    self._settle_failure(name, exc, asset_class, symbol, tally)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if tally.not_found and not tally.failures:
            raise NotFoundError(symbol)
        if not tally.failures and not tally.not_found:
            raise AllProvidersFailedError(f"no enabled provider offers this for {symbol}")
        ordered = {n: tally.failures[n] for n in chain if n in tally.failures}
        if not ordered:
            raise AllProvidersFailedError(
                f"every provider failed for {symbol}: not found on partial catalogues",
                retry_after=tally.retry_after or self._shortest_break(chain),
            )
        offline = not self.sandbox and all(tally.unreachable.get(n, False) for n in ordered)
        raise AllProvidersFailedError(
            summary(symbol, ordered, offline_hint=offline),
            retry_after=tally.retry_after or self._shortest_break(chain),
        )

    def _settle_failure(
        self,
        name: str,
        exc: BaseException,
        asset_class: AssetClass | None,
        symbol: str,
        tally: Tally,
    ) -> None:
        """Note why ``name`` did not answer; raise NotFoundError if its "unknown" is final."""
        if isinstance(exc, SymbolNotFoundError):
            tally.not_found.append(name)
            if asset_class in self.providers[name].info.authoritative_not_found:
                raise NotFoundError(symbol) from None
            return
        if isinstance(exc, UnsupportedError):
            return
        if not isinstance(exc, ProviderError | PlannerError):
            raise exc
        tally.failures[name] = describe(exc)
        unreachable = isinstance(exc, ProviderUnavailableError) and (
            exc.network or (exc.reason == "circuit_open" and self._unreachable.get(name, False))
        )
        tally.unreachable[name] = unreachable
        after: float | None = getattr(exc, "retry_after", None)
        if isinstance(exc, PlannerError):
            after = float(after if after is not None else 5.0)
        if after is not None:
            tally.retry_after = min(tally.retry_after or after, after)

    async def gather(
        self,
        chain: list[str],
        operation: str,
        fn: Callable[[Provider], Awaitable[T]],
        *,
        priority: Priority,
        batch: BatchSpec | None = None,
    ) -> dict[str, T]:
        """Ask every provider of ``chain`` at once; the answers of those that answered, in
        chain order (cross-provider validation, news aggregation)."""
        deadline = self.deadline(priority)

        async def one(name: str) -> tuple[str, T | None]:
            try:
                answer: T = await self.call_one(
                    name, operation, fn, priority=priority, deadline=deadline, batch=batch
                )
            except (ProviderError, PlannerError):
                return name, None
            return name, answer

        answers = await asyncio.gather(*(one(n) for n in chain))
        return {name: answer for name, answer in answers if answer is not None}

    def breaker_states(self) -> dict[str, BreakerState]:
        return {name: breaker.state for name, breaker in self.breakers.items()}

    async def probe_providers(self) -> dict[str, str]:
        """The cheapest call (``health``) to every provider whose circuit is not open, at LOW
        priority; ``ok`` or the failure's kind per provider. A success or failure feeds the
        breaker like any call, so a recovered provider closes its circuit."""

        async def one(name: str) -> tuple[str, str]:
            try:
                await self.call_one(
                    name,
                    "health",
                    lambda p: p.health(),
                    priority=Priority.LOW,
                    deadline=self.deadline(Priority.LOW),
                )
            except (ProviderError, PlannerError) as exc:
                return name, getattr(exc, "kind", type(exc).__name__)
            return name, "ok"

        names = [n for n, b in self.breakers.items() if b.state is not BreakerState.OPEN]
        return dict(await asyncio.gather(*(one(n) for n in names)))

    def health(self) -> dict[str, Any]:
        """Each provider: up / degraded / down from its breaker and recent success rate."""
        out: dict[str, Any] = {}
        for name in self.providers:
            br = self.breakers[name].snapshot()
            st = self.stats[name]
            state = {"closed": "up", "half_open": "degraded", "open": "down"}[str(br["state"])]
            if state == "up" and st.calls and st.failures / st.calls > 0.2:
                state = "degraded"
            out[name] = {
                "status": state,
                "circuit": br,
                "last_error": st.last_error,
                "latency_ms": round(st.last_latency_ms, 3) if st.last_latency_ms else None,
                "calls": st.calls,
            }
        return out

    def _shortest_break(self, chain: list[str]) -> float:
        waits = [self.breakers[n].retry_in() for n in chain if self.breakers[n].retry_in() > 0]
        return max(1.0, min(waits)) if waits else 30.0
