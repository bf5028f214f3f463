"""Limits tighter than a provider's heaviest calls: the lookup reserve, lookups charged their
weight, batches shrunk to what fits, typed refusals, and the outage arithmetic."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from marketsvc.domain import RateLimit
from marketsvc.errors import CallTooHeavyError
from marketsvc.planner import CallPlanner, LocalLimiter, SlidingWindowLimiter
from marketsvc.planner._outage import allowance_for_others, gap_bound, shares, unseen
from marketsvc.planner.fit import CallWeights, budget_conflicts
from marketsvc.planner.window import lookup_reserve
from tests.planner.virtual_time import VirtualTimeLoop, run_virtual

MINUTE = 60.0


@pytest.mark.parametrize(
    ("limit", "lookup", "kept"),
    [(6000, 20, 20), (30, 20, 7), (20, 20, 5), (19, 20, 0), (2, 20, 0), (4, 20, 0), (60, 0, 0)],
)
def test_lookup_reserve_is_small_for_small_limits(limit: int, lookup: int, kept: int) -> None:
    assert lookup_reserve(RateLimit(limit, MINUTE, "minute"), lookup) == kept


def test_ordinary_calls_leave_the_reserve_to_lookups() -> None:
    limiter = SlidingWindowLimiter([RateLimit(30, MINUTE, "minute")], reserved=[7])
    granted = sum(limiter.reserve(1, 0.0) == 0.0 for _ in range(30))
    assert granted == 23
    assert limiter.reserve(7, 1.0, lookup=True) == 0.0  # a lookup may use the kept units
    assert limiter.reserve(1, 2.0, lookup=True) > 0  # but never more than the whole window
    usage = limiter.usage(3.0)[0]
    assert (usage.used, usage.reserved, usage.usable, usage.left) == (30, 7, 23, 0)


def test_batches_shrink_to_what_one_window_allows_and_single_calls_are_refused() -> None:
    def binance_weight(n: int) -> int:
        return 2 if n <= 20 else 40 if n <= 100 else 80

    async def main(loop: VirtualTimeLoop) -> tuple[list[int], CallTooHeavyError]:
        planner = CallPlanner(LocalLimiter(clock=loop.time), monotonic=loop.time)
        await planner.configure("binance", [RateLimit(30, MINUTE, "minute")], reserved=[7])
        await planner.start()
        sizes: list[int] = []

        async def batch(items: list[str]) -> Mapping[str, str]:
            sizes.append(len(items))
            return {i: i for i in items}

        await asyncio.gather(
            *(
                planner.call_batched(
                    "binance", "quotes", f"S{i}", batch, max_batch=100, weight_for=binance_weight
                )
                for i in range(50)
            )
        )
        with pytest.raises(CallTooHeavyError) as refused:
            await planner.call("binance", lambda: asyncio.sleep(0), weight=24)
        await planner.aclose()
        return sizes, refused.value

    sizes, refused = run_virtual(main)
    assert sizes == [20, 20, 10]  # weight 2 each, never one call of weight 40
    assert (refused.weight, refused.most, refused.retry_after) == (24, 23, MINUTE)


def test_follow_up_lookups_are_charged_their_weight_and_may_not_exceed_the_window() -> None:
    async def main(loop: VirtualTimeLoop) -> list[int]:
        limiter = LocalLimiter(clock=loop.time)
        planner = CallPlanner(limiter, monotonic=loop.time)
        await planner.configure("binance", [RateLimit(30, MINUTE, "minute")], reserved=[7])
        await planner.start()
        await planner.spend("binance", 20, deadline=None)
        with pytest.raises(CallTooHeavyError):
            await planner.spend("binance", 31, deadline=None)
        used = [u.used for u in await limiter.usage("binance")]
        await planner.aclose()
        return used

    assert run_virtual(main) == [20]


def test_conflicts_are_explained_once_each() -> None:
    limits = [RateLimit(30, MINUTE, "minute")]
    weights = CallWeights(
        {"quote": 2, "search": 25},
        lookup=20,
        max_batch=100,
        batch_weight=lambda n: 2 if n <= 20 else 40,
    )
    lines = budget_conflicts("binance", "BINANCE_RATE_LIMITS", limits, [7], weights)
    assert lines == [
        "binance: BINANCE_RATE_LIMITS=30/minute (7 of 30/minute kept for lookups) allows calls "
        "of weight 23 at most, but search weighs 25: every search call to binance is refused "
        "(the next provider answers, or 503 with Retry-After)",
        "binance: BINANCE_RATE_LIMITS=30/minute (7 of 30/minute kept for lookups) allows calls "
        "of weight 23 at most, but a batch of 100 symbols weighs 40: batches shrink to 20 "
        "symbols (weight 2)",
    ]
    roomy = [RateLimit(6000, MINUTE, "minute")]
    assert budget_conflicts("binance", "BINANCE_RATE_LIMITS", roomy, [20], weights) == []


def test_outage_arithmetic() -> None:
    per_second = RateLimit(4, 1.0, "second")
    per_month = RateLimit(10_000, 30 * 86400.0, "month")
    limits = [per_second, per_month]
    assert shares(limits, 3) == (1, 3333)
    assert shares([RateLimit(2, MINUTE, "minute")], 3) == (0,)  # never rounded up
    # 0.3 s after seeing 3 of 4 used: the second window may be full, the month only +4.
    assert gap_bound(limits, 0.3) == 4
    assert unseen(limits, [3, 500], 0.3) == (1, 4)
    assert unseen(limits, [3, 500], 0.0) == (0, 0)
    # A 2.5 s outage: each other replica granted at most 1 per second (3 seconds touched).
    assert allowance_for_others(limits, 3, 2.5) == (2, 6)
