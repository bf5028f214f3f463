"""Hedged spill-over and the request deadline, on virtual time: fake providers that answer
slowly, hang, or fail, behind a real CallPlanner and LocalLimiter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from marketsvc.domain import AssetClass, Capability, Priority, Quote, RateLimit
from marketsvc.errors import AllProvidersFailedError, ProviderUnavailableError
from marketsvc.orchestrator.chain_runner import ChainRunner
from marketsvc.planner import CallPlanner, LocalLimiter, RetryPolicy
from marketsvc.providers.base import ProviderInfo
from tests.planner.virtual_time import VirtualTimeLoop, run_virtual


class TimedProvider:
    """Answers after ``delay`` seconds (None: never), or raises ``error`` after it."""

    def __init__(self, name: str, delay: float | None, error: Exception | None = None) -> None:
        self.info = ProviderInfo(
            name=name,
            asset_classes=frozenset(AssetClass),
            capabilities=frozenset({Capability.QUOTE}),
        )
        self.delay = delay
        self.error = error
        self.started: list[float] = []
        self.cancelled = 0

    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        loop = asyncio.get_running_loop()
        self.started.append(loop.time())
        try:
            await asyncio.sleep(3600.0 if self.delay is None else self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return Quote(symbol, 1.0, None, None, datetime.now(UTC), "USD", asset_class, self.info.name)

    def weight(self, operation: str, count: int = 1) -> int:
        return 1


async def _ask(
    loop: VirtualTimeLoop, providers: dict[str, TimedProvider], **runner_kw: float
) -> tuple[str, float]:
    """(answering provider or the 503 detail, virtual seconds it took)."""
    planner = CallPlanner(
        LocalLimiter(clock=loop.time),
        monotonic=loop.time,
        retry=RetryPolicy(attempts=1),
    )
    for name in providers:
        await planner.configure(name, [RateLimit(100, 1.0, "second")])
    await planner.start()
    runner = ChainRunner(providers, planner, monotonic=loop.time, **runner_kw)
    t0 = loop.time()
    try:
        _, source = await runner.run(
            list(providers),
            "quote",
            lambda p: p.quote("BTC", AssetClass.CRYPTO),
            symbol="BTC",
            asset_class=AssetClass.CRYPTO,
            priority=Priority.MEDIUM,
        )
    except AllProvidersFailedError as exc:
        source = str(exc)
    finally:
        await planner.aclose()
    return source, loop.time() - t0


def test_slow_but_correct_providers_answer_instead_of_503() -> None:
    """Every provider answers in 2.1 s, past the 2 s spill-over: the first one still wins."""
    providers = {n: TimedProvider(n, 2.1) for n in ("a", "b", "c")}

    async def main(loop: VirtualTimeLoop) -> tuple[str, float]:
        return await _ask(loop, providers)

    source, took = run_virtual(main)
    assert source == "a"
    assert took == pytest.approx(2.1)
    assert len(providers["b"].started) == 1, "b was asked too at the spill-over (hedge)"
    assert providers["b"].cancelled == 1, "the loser is cancelled"
    assert providers["c"].started == [], "c's turn (4 s) never came"


def test_hanging_primary_answered_by_the_next_at_the_spill_over() -> None:
    providers = {"a": TimedProvider("a", None), "b": TimedProvider("b", 0.3)}

    async def main(loop: VirtualTimeLoop) -> tuple[str, float]:
        return await _ask(loop, providers)

    source, took = run_virtual(main)
    assert source == "b"
    assert took == pytest.approx(2.0 + 0.3)
    assert providers["a"].cancelled == 1


def test_first_good_answer_wins_whoever_started_first() -> None:
    providers = {"a": TimedProvider("a", 5.0), "b": TimedProvider("b", 0.5)}

    async def main(loop: VirtualTimeLoop) -> tuple[str, float]:
        return await _ask(loop, providers)

    source, took = run_virtual(main)
    assert (source, took) == ("b", pytest.approx(2.5))


def test_failure_moves_on_at_once_and_a_late_success_still_counts() -> None:
    """a fails fast, b is slow but good, c would be fast: b is asked at once after a's
    failure; c is hedged in at b + 2 s, yet b (3 s) is not abandoned for it."""
    providers = {
        "a": TimedProvider("a", 0.1, ProviderUnavailableError("a", "HTTP 502", "http_5xx")),
        "b": TimedProvider("b", 3.0),
        "c": TimedProvider("c", 1.5),
    }

    async def main(loop: VirtualTimeLoop) -> tuple[str, float]:
        return await _ask(loop, providers)

    source, took = run_virtual(main)
    assert source == "b" and took == pytest.approx(3.1)
    assert providers["b"].started == [pytest.approx(1000.1)]
    assert providers["c"].started == [pytest.approx(1002.1)]


def test_every_provider_hanging_ends_at_the_request_deadline() -> None:
    providers = {n: TimedProvider(n, None) for n in ("a", "b", "c")}

    async def main(loop: VirtualTimeLoop) -> tuple[str, float]:
        return await _ask(loop, providers, deadline_seconds=7.0)

    detail, took = run_virtual(main)
    assert took == pytest.approx(7.0, abs=0.01)
    assert detail == (
        "every provider failed for BTC: a: no answer before the deadline, "
        "b: no answer before the deadline, c: no answer before the deadline"
    )
    assert all(p.cancelled == 1 for p in providers.values())


def test_background_work_asks_one_provider_at_a_time() -> None:
    providers = {"a": TimedProvider("a", 5.0), "b": TimedProvider("b", 0.1)}

    async def main(loop: VirtualTimeLoop) -> str:
        planner = CallPlanner(LocalLimiter(clock=loop.time), monotonic=loop.time)
        for name in providers:
            await planner.configure(name, [RateLimit(100, 1.0, "second")])
        await planner.start()
        runner = ChainRunner(providers, planner, monotonic=loop.time)
        try:
            _, source = await runner.run(
                ["a", "b"],
                "quote",
                lambda p: p.quote("BTC", AssetClass.CRYPTO),
                symbol="BTC",
                asset_class=AssetClass.CRYPTO,
                priority=Priority.LOW,
            )
        finally:
            await planner.aclose()
        return source

    assert run_virtual(main) == "a"
    assert providers["b"].started == []
