"""Runs one provider operation along a provider chain: breaker check, the call planner,
fallback to the next provider on unavailable / rate-limited / deadline errors, and the
"symbol not found" rules.

A not-found answer from a provider that declares itself authoritative for the asset class
(``ProviderInfo.authoritative_not_found``) ends the chain; from a partial catalogue (Binance
only lists its trading pairs) it only moves on to the next provider.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
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
from marketsvc.orchestrator.breaker import BreakerPolicy, BreakerState, ProviderBreaker
from marketsvc.planner import CallPlanner
from marketsvc.providers import CALL_BUDGET
from marketsvc.providers.base import Provider

T = TypeVar("T")
log = logging.getLogger(__name__)

# Failures that say something about the provider's health (they feed the breaker).
_HEALTH_FAILURES = (ProviderUnavailableError, BadDataError, ProviderAuthError)


@dataclass(slots=True)
class ProviderCallStats:
    calls: int = 0
    successes: int = 0
    # Calls that say something about the provider's health (unavailable, bad data, auth);
    # "unknown symbol", "unsupported here" and throttling are answers, not failures.
    failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency_ms_total: float = 0.0
    last_latency_ms: float | None = None
    last_error: str | None = None
    last_success_at: float | None = None


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """Says that a one-symbol call may be merged with others into one multi-symbol call
    (``Provider.quotes(items, asset_class)``) on providers that have a batch endpoint. The
    caller states it; the runner never switches operation on its own. ``key`` groups the
    calls the planner may merge."""

    key: str
    item: str
    asset_class: AssetClass

    @classmethod
    def quotes(cls, symbol: str, asset_class: AssetClass) -> BatchSpec:
        return cls(f"quotes:{asset_class.value}", symbol, asset_class)


class _GrantedCall:
    """The first request of a granted call is paid for; every further one is spent from the
    provider's budget before it goes out."""

    def __init__(self, planner: CallPlanner, provider: str, deadline: float) -> None:
        self.planner = planner
        self.provider = provider
        self.deadline = deadline
        self.requests = 0

    async def before_request(self) -> None:
        self.requests += 1
        if self.requests > 1:
            await self.planner.spend(self.provider, 1, self.deadline)


async def _budgeted(budget: _GrantedCall, coro: Awaitable[T]) -> T:
    token = CALL_BUDGET.set(budget)  # set inside the planner's worker task that awaits us
    try:
        return await coro
    finally:
        CALL_BUDGET.reset(token)


class ChainRunner:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        planner: CallPlanner,
        *,
        breaker_policy: BreakerPolicy | None = None,
        deadline_seconds: float = 15.0,
        fallback_after: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = providers
        self.planner = planner
        self.deadline_seconds = deadline_seconds
        self.fallback_after = fallback_after
        self._monotonic = monotonic
        policy = breaker_policy or BreakerPolicy()
        self.breakers = {name: ProviderBreaker(policy, monotonic) for name in providers}
        self.stats = {name: ProviderCallStats() for name in providers}
        # Providers whose batch endpoint the key's plan refused: single calls from then on.
        self.no_batch: set[str] = set()

    def deadline(self, priority: Priority) -> float:
        # Background work may wait longer for budget than a user would.
        factor = 1.0 if priority <= Priority.MEDIUM else 20.0
        return self.planner.now() + self.deadline_seconds * factor

    async def call_one(
        self,
        name: str,
        operation: str,
        fn: Callable[[Provider], Awaitable[T]],
        *,
        priority: Priority,
        deadline: float,
        batch: BatchSpec | None = None,
    ) -> T:
        """One provider, through its breaker and the planner; records stats and health."""
        provider = self.providers[name]
        breaker = self.breakers[name]
        if not breaker.allow():
            raise ProviderUnavailableError(name, "circuit open")
        stats = self.stats[name]
        t0 = time.perf_counter()
        batched = batch is not None and provider.info.max_batch > 1 and name not in self.no_batch
        try:
            if batch is not None and batched:
                spec = batch

                async def run_batch(items: list[str]) -> Mapping[str, Any]:
                    budget = _GrantedCall(self.planner, name, deadline)
                    return await _budgeted(budget, provider.quotes(items, spec.asset_class))

                result: T = await self.planner.call_batched(
                    name,
                    spec.key,
                    spec.item,
                    run_batch,
                    max_batch=provider.info.max_batch,
                    weight_for=lambda n: provider.weight("quotes", n),
                    priority=priority,
                    deadline=deadline,
                )
            else:
                result = await self.planner.call(
                    name,
                    lambda: _budgeted(_GrantedCall(self.planner, name, deadline), fn(provider)),
                    priority=priority,
                    weight=provider.weight(operation),
                    deadline=deadline,
                )
        except ProviderAuthError as exc:
            if batched:
                # The multi-symbol endpoint is outside this key's plan (Massive's snapshots on
                # a free key): stop batching for this provider and ask for the symbol alone.
                log.warning("batch endpoint refused; using single calls", extra={"provider": name})
                self.no_batch.add(name)
                breaker.release_probe()
                return await self.call_one(
                    name, operation, fn, priority=priority, deadline=deadline, batch=None
                )
            breaker.record_failure(exc.kind)
            self._count(stats, exc.kind, t0)
            stats.failures += 1
            raise
        except _HEALTH_FAILURES as exc:
            breaker.record_failure(exc.kind)
            self._count(stats, exc.kind, t0)
            stats.failures += 1
            raise
        except ProviderError as exc:  # not found, rate limited, unsupported: provider is fine
            breaker.release_probe()
            if isinstance(exc, SymbolNotFoundError):
                breaker.record_success()
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
        stats.calls += 1
        stats.successes += 1
        stats.last_success_at = time.time()
        stats.last_latency_ms = (time.perf_counter() - t0) * 1000
        stats.latency_ms_total += stats.last_latency_ms
        return result

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
        """First provider in ``chain`` that answers; (result, provider name)."""
        deadline = self.deadline(priority)
        failures: list[str] = []
        not_found: list[str] = []
        retry_after: float | None = None
        for i, name in enumerate(chain):
            now = self.planner.now()
            if now >= deadline:
                failures.append(f"{name}: deadline")
                break
            # A user should not wait out one provider's queue or Retry-After while another
            # could answer now: interactive calls give each provider but the last a short
            # leash, then spill over. Background work waits its turn.
            step_deadline = deadline
            if priority <= Priority.MEDIUM and i < len(chain) - 1:
                step_deadline = min(deadline, now + self.fallback_after)
            try:
                result = await self.call_one(
                    name, operation, fn, priority=priority, deadline=step_deadline, batch=batch
                )
            except SymbolNotFoundError:
                not_found.append(name)
                if asset_class in self.providers[name].info.authoritative_not_found:
                    raise NotFoundError(symbol) from None
                continue
            except UnsupportedError:
                continue
            except RateLimitedError as exc:
                failures.append(f"{name}: rate_limited")
                if exc.retry_after is not None:
                    retry_after = min(retry_after or exc.retry_after, exc.retry_after)
                continue
            except ProviderError as exc:
                failures.append(f"{name}: {exc.kind}")
                continue
            except PlannerError as exc:
                failures.append(f"{name}: {type(exc).__name__}")
                retry_after = min(retry_after or 5.0, float(getattr(exc, "retry_after", 5.0)))
                continue
            return result, name
        if not_found and not failures:
            raise NotFoundError(symbol)
        if not failures and not not_found:
            raise AllProvidersFailedError(f"no enabled provider offers this for {symbol}")
        raise AllProvidersFailedError(
            f"every provider failed for {symbol}: "
            f"{', '.join(failures) or 'not found on partial catalogues'}",
            retry_after=retry_after or self._shortest_break(chain),
        )

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
