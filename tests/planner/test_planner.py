"""CallPlanner on virtual time (see virtual_time.py): queues, deadlines, retries, batching."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any

import pytest

from marketsvc.domain import Priority, RateLimit
from marketsvc.errors import (
    CallTooHeavyError,
    ConfigError,
    DeadlineExceededError,
    PlannerError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
    SaturatedError,
    SymbolNotFoundError,
)
from marketsvc.planner import CallPlanner, LocalLimiter, RetryPolicy
from tests.planner.virtual_time import VirtualTimeLoop, run_virtual

Scenario = Callable[[VirtualTimeLoop, CallPlanner], Coroutine[Any, Any, None]]


def scenario(limits: Mapping[str, str], **options: Any) -> Callable[[Scenario], Callable[[], None]]:
    """Turn ``async def body(loop, planner)`` into a test on a virtual-time loop."""

    def wrap(body: Scenario) -> Callable[[], None]:
        def test() -> None:
            async def main(loop: VirtualTimeLoop) -> None:
                limiter = LocalLimiter(clock=loop.time)
                options.setdefault("rng", random.Random(7))
                async with CallPlanner(limiter, monotonic=loop.time, **options) as planner:
                    for provider, text in limits.items():
                        await planner.configure(provider, RateLimit.parse_many(text))
                    await body(loop, planner)

            run_virtual(main)

        test.__name__ = body.__name__
        return test

    return wrap


class Upstream:
    """A fake provider operation that records when it was called and with what."""

    def __init__(self, loop: VirtualTimeLoop, latency: float = 0.0) -> None:
        self.loop = loop
        self.latency = latency
        self.calls: list[tuple[float, Any]] = []
        self.active = 0
        self.max_active = 0

    def op(self, tag: Any, result: Any = None) -> Callable[[], Awaitable[Any]]:
        async def fn() -> Any:
            self.calls.append((self.loop.time(), tag))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            try:
                if self.latency:
                    await asyncio.sleep(self.latency)
            finally:
                self.active -= 1
            if isinstance(result, Exception):
                raise result
            return tag if result is None else result

        return fn


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def max_in_any_window(times: list[float], window: float) -> int:
    return max((sum(1 for t in times if s <= t < s + window) for s in times), default=0)


@scenario({"p": "4/second"})
async def test_urgent_overtakes_a_batch_backlog_of_1000(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop)
    backlog = [
        asyncio.ensure_future(planner.call("p", up.op(i), priority=Priority.BATCH))
        for i in range(1000)
    ]
    await asyncio.sleep(2.5)
    submitted = loop.time()
    assert await planner.call("p", up.op("urgent"), priority=Priority.URGENT) == "urgent"
    served_at, first_after = next((t, tag) for t, tag in up.calls if t >= submitted)
    assert first_after == "urgent"  # the next freed unit went to it
    assert served_at - submitted <= 1.0  # one budget interval at most
    assert max_in_any_window([t for t, _ in up.calls], 1.0) <= 4
    assert (await planner.stats())["p"].queue_depth["BATCH"] > 980
    await planner.aclose()
    outcomes = await asyncio.gather(*backlog, return_exceptions=True)
    served = {tag for _, tag in up.calls}
    # Closing answers every caller still waiting; nobody is left hanging.
    assert all(
        o == i if i in served else isinstance(o, PlannerError) for i, o in enumerate(outcomes)
    )


@scenario({"p": "1/second"})
async def test_priority_order_and_fifo_within_a_priority(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop)
    await planner.call("p", up.op("warm-up"))  # spends the unit: everything below queues
    order = [
        Priority.LOW,
        Priority.URGENT,
        Priority.BATCH,
        Priority.LOW,
        Priority.HIGH,
        Priority.URGENT,
        Priority.MEDIUM,
    ]
    calls = [planner.call("p", up.op((p, i)), priority=p) for i, p in enumerate(order)]
    await asyncio.gather(*calls)
    served = [tag for _, tag in up.calls[1:]]
    assert served == sorted(served, key=lambda tag: (tag[0], tag[1]))
    assert [p for p, _ in served] == sorted(order)


@scenario({"p": "1/10second".replace("10second", "minute")})
async def test_a_call_that_cannot_be_served_in_time_fails_fast(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop)
    t0 = loop.time()
    await planner.call("p", up.op("a"))
    late = asyncio.ensure_future(planner.call("p", up.op("b"), deadline=t0 + 5))
    patient = asyncio.ensure_future(planner.call("p", up.op("c"), deadline=t0 + 100))
    with pytest.raises(DeadlineExceededError):
        await late
    assert loop.time() - t0 < 0.01  # failed at once, not after waiting 5 s
    with pytest.raises(DeadlineExceededError):  # known not to fit: refused on arrival
        await planner.call("p", up.op("d"), deadline=loop.time() + 30)
    assert await patient == "c"
    assert [tag for _, tag in up.calls] == ["a", "c"]
    assert up.calls[1][0] == pytest.approx(t0 + 60, abs=0.01)


@scenario({"p": "1/minute"}, workers=1)
async def test_a_deadline_also_bounds_a_slow_call(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop, latency=30)
    t0 = loop.time()
    with pytest.raises(DeadlineExceededError):
        await planner.call("p", up.op("slow"), deadline=t0 + 2)
    assert loop.time() == pytest.approx(t0 + 2)


@scenario({"p": "1/minute"})
async def test_a_cancelled_caller_frees_its_place_without_spending_budget(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop)
    t0 = loop.time()
    await planner.call("p", up.op("a"))
    gone = asyncio.ensure_future(planner.call("p", up.op("gone"), priority=Priority.URGENT))
    await asyncio.sleep(1)
    assert (await planner.stats())["p"].queue_depth["URGENT"] == 1
    gone.cancel()
    await settle()
    assert (await planner.stats())["p"].queue_depth["URGENT"] == 0
    assert await planner.call("p", up.op("c"), priority=Priority.LOW) == "c"
    assert [tag for _, tag in up.calls] == ["a", "c"]
    assert up.calls[1][0] == pytest.approx(t0 + 60, abs=0.01)  # the unit "gone" did not spend
    assert (await planner.stats())["p"].calls == 2


@scenario({"p": "1/minute"}, max_queue=3)
async def test_a_full_queue_refuses_with_saturated_but_urgent_displaces_low(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop)
    await planner.call("p", up.op("a"))
    low = [
        asyncio.ensure_future(planner.call("p", up.op(i), priority=Priority.LOW)) for i in range(3)
    ]
    await settle()
    with pytest.raises(SaturatedError) as refused:
        await planner.call("p", up.op("x"), priority=Priority.LOW)
    assert refused.value.retry_after >= 60  # 4 calls at 1/minute
    urgent = asyncio.ensure_future(planner.call("p", up.op("u"), priority=Priority.URGENT))
    await settle()
    with pytest.raises(SaturatedError):
        await low[2]  # the newest of the least urgent made room
    assert await urgent == "u"
    assert up.calls[1][1] == "u"
    for task in low[:2]:
        task.cancel()


@scenario({"slow": "1000/second", "fast": "1000/second"}, workers=2)
async def test_a_slow_provider_does_not_hold_up_another(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    slow, fast = Upstream(loop, latency=100), Upstream(loop, latency=0.01)
    t0 = loop.time()
    slow_calls = [asyncio.ensure_future(planner.call("slow", slow.op(i))) for i in range(5)]
    results = await asyncio.gather(*(planner.call("fast", fast.op(i)) for i in range(20)))
    assert results == list(range(20))
    assert loop.time() - t0 < 1  # 20 fast calls, 2 at a time, while slow ones hang for 100 s
    assert slow.max_active == 2 and fast.max_active == 2  # at most `workers` in flight each
    assert await asyncio.gather(*slow_calls) == list(range(5))
    assert loop.time() - t0 == pytest.approx(300, abs=0.1)


@scenario({"p": "1000/second"}, retry=RetryPolicy(attempts=4, base=0.05, cap=1.0))
async def test_an_outage_does_not_become_a_retry_storm(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop)
    offered = 200
    outcomes = await asyncio.gather(
        *(planner.call("p", up.op(i, ProviderUnavailableError("p"))) for i in range(offered)),
        return_exceptions=True,
    )
    assert all(isinstance(o, ProviderUnavailableError) for o in outcomes)
    attempts = len(up.calls)
    assert offered < attempts <= 1.2 * offered  # some retries, never a storm
    stats = (await planner.stats())["p"]
    assert stats.calls == attempts and stats.retries == attempts - offered


@scenario({"p": "1000/second"}, retry=RetryPolicy(attempts=3, base=0.1, cap=1.0))
async def test_only_idempotent_calls_retry_only_on_transient_errors(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    outcomes: Iterator[Exception | str] = iter(
        [ProviderUnavailableError("p"), ProviderUnavailableError("p"), "ok"]
    )
    attempts: list[float] = []

    async def flaky() -> str:
        attempts.append(loop.time())
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert await planner.call("p", flaky) == "ok"
    assert len(attempts) == 3
    assert all(0 <= b - a <= 1.0 for a, b in itertools.pairwise(attempts))  # full jitter, capped
    up = Upstream(loop)
    with pytest.raises(ProviderUnavailableError):
        await planner.call("p", up.op("w", ProviderUnavailableError("p")), idempotent=False)
    with pytest.raises(ProviderAuthError):
        await planner.call("p", up.op("k", ProviderAuthError("p")))
    assert len(up.calls) == 2  # one attempt each


@scenario({"p": "1000/second"}, retry=RetryPolicy(attempts=3, base=0.1, cap=1.0))
async def test_retry_after_is_honoured_for_the_whole_provider(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop)
    outcomes: Iterator[Exception | str] = iter([RateLimitedError("p", retry_after=7), "ok"])

    async def throttled() -> str:
        up.calls.append((loop.time(), "throttled"))
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    t0 = loop.time()
    first = asyncio.ensure_future(planner.call("p", throttled))
    await asyncio.sleep(1)
    other = await planner.call("p", up.op("other"))  # another call, same provider
    assert other == "other"
    assert await first == "ok"
    assert all(t >= t0 + 7 for t, _ in up.calls[1:])  # nobody called it for 7 s
    with pytest.raises(RateLimitedError):  # a Retry-After beyond the deadline: fail now
        await planner.call(
            "p", up.op("x", RateLimitedError("p", retry_after=30)), deadline=loop.time() + 10
        )
    stats = (await planner.stats())["p"]
    assert stats.rate_limited == 2 and stats.retries == 1


def batch_upstream(loop: VirtualTimeLoop, known: set[str]) -> tuple[list[list[str]], Any]:
    requests: list[list[str]] = []

    async def fetch(symbols: list[str]) -> Mapping[str, Any]:
        requests.append(symbols)
        await asyncio.sleep(0.05)
        return {s: (ValueError(s) if s == "BAD" else f"price:{s}") for s in symbols if s in known}

    return requests, fetch


@scenario({"p": "10/minute"})
async def test_waiting_single_symbol_calls_share_upstream_requests(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    symbols = [f"S{i}" for i in range(100)]
    requests, fetch = batch_upstream(loop, set(symbols) | {"BAD"})
    ask = [*symbols, "MISSING", "BAD"]
    ask.insert(50, "S1")  # asked twice while its batch gathers: sent once
    outcomes = await asyncio.gather(
        *(planner.call_batched("p", "quotes", s, fetch, max_batch=60) for s in ask),
        return_exceptions=True,
    )
    assert len(requests) <= 2 and sum(map(len, requests)) == 102
    answers = dict(zip(ask, outcomes, strict=True))
    assert [answers[s] for s in symbols] == [f"price:{s}" for s in symbols]
    assert outcomes[50] == "price:S1"
    assert isinstance(answers["MISSING"], SymbolNotFoundError)
    assert answers["MISSING"].symbol == "MISSING"  # not found for that caller only
    assert isinstance(answers["BAD"], ValueError)
    stats = (await planner.stats())["p"]
    assert stats.windows[0].used == len(requests)  # weight per upstream call, not per caller
    assert sum(stats.batch_sizes.values()) == len(requests) and stats.mean_batch_size > 50


@scenario({"p": "10/minute"}, batch_delay=5.0)
async def test_batch_priority_gathers_longer_and_urgent_shortens_it(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    requests, fetch = batch_upstream(loop, {"A", "B", "C", "D"})
    t0 = loop.time()
    a = asyncio.ensure_future(
        planner.call_batched("p", "q", "A", fetch, max_batch=10, priority=Priority.BATCH)
    )
    await asyncio.sleep(2)
    b = asyncio.ensure_future(
        planner.call_batched("p", "q", "B", fetch, max_batch=10, priority=Priority.BATCH)
    )
    assert list(await asyncio.gather(a, b)) == ["price:A", "price:B"]
    assert requests == [["A", "B"]] and loop.time() - t0 == pytest.approx(5.05)
    t1 = loop.time()
    c = asyncio.ensure_future(
        planner.call_batched("p", "q", "C", fetch, max_batch=10, priority=Priority.BATCH)
    )
    d = planner.call_batched("p", "q", "D", fetch, max_batch=10, priority=Priority.URGENT)
    assert list(await asyncio.gather(c, d)) == ["price:C", "price:D"]
    assert requests[1] == ["C", "D"] and loop.time() - t1 < 0.1


@scenario({"p": "10/minute"})
async def test_batch_weight_is_counted_per_upstream_call(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    requests, fetch = batch_upstream(loop, {f"S{i}" for i in range(12)})
    await asyncio.gather(
        *(
            planner.call_batched("p", "q", f"S{i}", fetch, max_batch=6, weight_for=lambda n: n)
            for i in range(12)
        )
    )
    # Two requests of 6 items weigh 6 each: the second must wait for the first to leave.
    assert [len(r) for r in requests] == [6, 6]
    assert (await planner.stats())["p"].windows[0].used == 6


@scenario({"p": "5/second"})
async def test_stats_report_depth_waits_and_units(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    up = Upstream(loop)
    tasks = [
        asyncio.ensure_future(planner.call("p", up.op(i), priority=Priority.LOW)) for i in range(12)
    ]
    await settle()
    stats = (await planner.stats())["p"]
    assert stats.queue_depth == {"URGENT": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 7, "BATCH": 0}
    assert (stats.windows[0].used, stats.windows[0].left) == (5, 0)
    await asyncio.gather(*tasks)
    stats = (await planner.stats())["p"]
    assert stats.calls == 12 and sum(stats.queue_depth.values()) == 0
    assert stats.wait_p50 == pytest.approx(1.0, abs=0.01) and stats.wait_p99 == pytest.approx(
        2.0, abs=0.01
    )


def test_lifecycle_errors() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        planner = CallPlanner(LocalLimiter(clock=loop.time), monotonic=loop.time)
        await planner.configure("p", RateLimit.parse_many("1/second"))
        up = Upstream(loop)
        with pytest.raises(PlannerError, match="start"):
            await planner.call("p", up.op(1))
        await planner.start()
        with pytest.raises(ConfigError):
            await planner.call("nobody", up.op(1))
        # Heavier than the provider's limit: a typed refusal (a 503 upstairs), never queued.
        with pytest.raises(CallTooHeavyError, match="weight 2 cannot fit"):
            await planner.call("p", up.op(1), weight=2)
        await planner.aclose()
        with pytest.raises(PlannerError):
            await planner.call("p", up.op(1))
        assert up.calls == []

    run_virtual(main)


async def test_a_429_blocks_the_lane_before_the_slot_frees() -> None:
    """Reliability finding: with a slow (Redis) limiter, a call slipped out 9 ms after a 429.
    The block is now set the moment the 429 arrives, before the slot is freed."""
    import asyncio as aio

    from marketsvc.domain import Priority, RateLimit
    from marketsvc.errors import RateLimitedError
    from marketsvc.planner import CallPlanner, LocalLimiter, RetryPolicy

    class SlowLimiter(LocalLimiter):
        async def reserve(self, provider: str, weight: int = 1) -> float:
            await aio.sleep(0.01)  # a Redis round trip
            return await super().reserve(provider, weight)

        async def block_for(self, provider: str, seconds: float) -> None:
            await aio.sleep(0.05)  # the shared block lands late
            await super().block_for(provider, seconds)

    sent: list[float] = []
    loop = aio.get_running_loop()

    async def throttled() -> None:
        sent.append(loop.time())
        raise RateLimitedError("p", retry_after=30)

    async def fine() -> int:
        sent.append(loop.time())
        return 1

    planner = CallPlanner(SlowLimiter(), workers=2, retry=RetryPolicy(attempts=1))
    await planner.configure("p", [RateLimit(100, 1.0, "second")])
    await planner.start()
    try:
        first = aio.create_task(planner.call("p", throttled, priority=Priority.HIGH))
        await aio.sleep(0)
        others = [
            aio.create_task(planner.call("p", fine, deadline=planner.now() + 2)) for _ in range(5)
        ]
        with pytest.raises(RateLimitedError):
            await first
        results = await aio.gather(*others, return_exceptions=True)
    finally:
        await planner.aclose()
    # Only calls already on the wire with the throttled one may have gone out; none after.
    after = [t for t in sent if t > sent[0] + 0.005]
    assert after == [], f"{len(after)} calls sent inside the Retry-After block"
    assert all(isinstance(r, Exception) for r in results[1:])


@scenario({"p": "10/minute"}, gather_delay=0.002)
async def test_a_lone_interactive_caller_does_not_wait_for_batch_mates(
    loop: VirtualTimeLoop, planner: CallPlanner
) -> None:
    requests, fetch = batch_upstream(loop, {"A", "B", "C"})
    t0 = loop.time()
    assert await planner.call_batched("p", "q", "A", fetch, max_batch=10) == "price:A"
    assert requests == [["A"]] and loop.time() - t0 == pytest.approx(0.05)  # the fetch only
    # While a call for the operation runs, the next callers gather and share one call.
    first = asyncio.ensure_future(planner.call_batched("p", "q", "A", fetch, max_batch=10))
    await asyncio.sleep(0.01)
    b = asyncio.ensure_future(planner.call_batched("p", "q", "B", fetch, max_batch=10))
    await asyncio.sleep(0.001)
    c = planner.call_batched("p", "q", "C", fetch, max_batch=10)
    assert list(await asyncio.gather(first, b, c)) == ["price:A", "price:B", "price:C"]
    assert requests[1:] == [["A"], ["B", "C"]]
