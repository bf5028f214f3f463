"""The small parts of one chain run: per-provider call stats, the batch spec a caller
states, what a run learnt from failing providers, and the budget of a granted call."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from marketsvc.domain import AssetClass
from marketsvc.planner import CallPlanner
from marketsvc.providers import CALL_BUDGET

T = TypeVar("T")


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


@dataclass(slots=True)
class Tally:
    """What a chain run learnt from the providers that did not answer."""

    failures: dict[str, str] = field(default_factory=dict)  # provider -> reason, for people
    unreachable: dict[str, bool] = field(default_factory=dict)  # DNS / refused / no route
    not_found: list[str] = field(default_factory=list)
    retry_after: float | None = None


class GrantedCall:
    """The first request of a granted call is paid for; every further one is spent from the
    provider's budget before it goes out."""

    def __init__(self, planner: CallPlanner, provider: str, deadline: float, granted: int) -> None:
        self.planner = planner
        self.provider = provider
        self.deadline = deadline
        self.granted = granted
        self.requests = 0

    async def before_request(self, weight: int = 1) -> None:
        self.requests += 1
        # The grant covers the first request if it weighs no more; a heavier first request
        # (a lookup before the real one) is paid in full, and the grant is left unused.
        if self.requests > 1 or weight > self.granted:
            await self.planner.spend(self.provider, weight, self.deadline)


async def budgeted(budget: GrantedCall, coro: Awaitable[T]) -> T:
    token = CALL_BUDGET.set(budget)  # set inside the planner's worker task that awaits us
    try:
        return await coro
    finally:
        CALL_BUDGET.reset(token)
