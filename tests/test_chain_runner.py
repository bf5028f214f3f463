"""ChainRunner with fake providers behind a real CallPlanner: fallback, the not-found rules,
breakers, and the batch-refused fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from marketsvc.domain import AssetClass, Capability, Priority, Quote, RateLimit
from marketsvc.errors import (
    AllProvidersFailedError,
    NotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.orchestrator.chain_runner import BatchSpec, ChainRunner
from marketsvc.planner import CallPlanner, LocalLimiter, RetryPolicy
from marketsvc.providers.base import ProviderInfo


class FakeProvider:
    def __init__(
        self,
        name: str,
        behaviour: Exception | float,
        *,
        max_batch: int = 1,
        batch_error: Exception | None = None,
        authoritative: frozenset[AssetClass] | None = None,
    ) -> None:
        if authoritative is None:  # as the real adapters of these names declare it
            stock = {"finnhub", "polygon", "yahoo", "tiingo"}
            crypto = {"coingecko", "coinmarketcap"}
            authoritative = frozenset(
                {AssetClass.STOCK}
                if name in stock
                else {AssetClass.CRYPTO}
                if name in crypto
                else ()
            )
        self.info = ProviderInfo(
            name=name,
            asset_classes=frozenset(AssetClass),
            capabilities=frozenset({Capability.QUOTE}),
            max_batch=max_batch,
            authoritative_not_found=authoritative,
        )
        self.behaviour = behaviour
        self.batch_error = batch_error
        self.single_calls = 0
        self.batch_calls = 0

    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        self.single_calls += 1
        if isinstance(self.behaviour, Exception):
            raise self.behaviour
        return Quote(
            symbol,
            self.behaviour,
            None,
            None,
            datetime.now(UTC),
            "USD",
            asset_class,
            self.info.name,
        )

    async def quotes(
        self, symbols: Sequence[str], asset_class: AssetClass
    ) -> Mapping[str, Quote | ProviderError]:
        self.batch_calls += 1
        if self.batch_error is not None:
            raise self.batch_error
        return {s: await self.quote(s, asset_class) for s in symbols}

    def weight(self, operation: str, count: int = 1) -> int:
        return 1


@pytest.fixture
async def planner() -> AsyncIterator[CallPlanner]:
    # No retries here: the planner's retries have their own tests; these are about the chain.
    planner = CallPlanner(LocalLimiter(), workers=2, retry=RetryPolicy(attempts=1))
    await planner.start()
    yield planner
    await planner.aclose()


async def run(runner: ChainRunner, chain: list[str], ac: AssetClass = AssetClass.STOCK) -> Any:
    for name in chain:
        await runner.planner.configure(name, [RateLimit(1000, 1.0, "second")])
    return await runner.run(
        chain,
        "quote",
        lambda p: p.quote("AAPL", ac),
        symbol="AAPL",
        asset_class=ac,
        priority=Priority.MEDIUM,
    )


async def test_falls_back_on_unavailable_and_rate_limited(planner: CallPlanner) -> None:
    providers = {
        "a": FakeProvider("a", ProviderUnavailableError("a")),
        "b": FakeProvider("b", RateLimitedError("b", retry_after=3)),
        "c": FakeProvider("c", 101.0),
    }
    quote, source = await run(ChainRunner(providers, planner), ["a", "b", "c"])
    assert source == "c" and quote.price == 101.0


async def test_authoritative_not_found_ends_the_chain(planner: CallPlanner) -> None:
    providers = {
        "finnhub": FakeProvider("finnhub", SymbolNotFoundError("finnhub", "AAPL")),
        "yahoo": FakeProvider("yahoo", 5.0),
    }
    with pytest.raises(NotFoundError):
        await run(ChainRunner(providers, planner), ["finnhub", "yahoo"])
    assert providers["yahoo"].single_calls == 0


async def test_partial_catalogue_not_found_moves_on(planner: CallPlanner) -> None:
    providers = {
        "binance": FakeProvider("binance", SymbolNotFoundError("binance", "AAPL")),
        "coingecko": FakeProvider("coingecko", 7.0),
    }
    _, source = await run(
        ChainRunner(providers, planner), ["binance", "coingecko"], AssetClass.CRYPTO
    )
    assert source == "coingecko"


async def test_all_failing_is_all_providers_failed_with_retry_after(planner: CallPlanner) -> None:
    providers = {
        "a": FakeProvider("a", RateLimitedError("a", retry_after=9)),
        "b": FakeProvider("b", ProviderUnavailableError("b")),
    }
    with pytest.raises(AllProvidersFailedError) as info:
        await run(ChainRunner(providers, planner), ["a", "b"])
    assert info.value.retry_after == 9


async def test_open_breaker_skips_the_provider(planner: CallPlanner) -> None:
    providers = {"a": FakeProvider("a", ProviderUnavailableError("a")), "b": FakeProvider("b", 3.0)}
    runner = ChainRunner(providers, planner)
    for _ in range(5):
        await run(runner, ["a", "b"])
    assert runner.breakers["a"].state.value == "open"
    calls = providers["a"].single_calls
    await run(runner, ["a", "b"])
    assert providers["a"].single_calls == calls  # not even tried


async def test_refused_batch_endpoint_falls_back_to_single_calls(planner: CallPlanner) -> None:
    polygon = FakeProvider(
        "polygon", 42.0, max_batch=250, batch_error=ProviderAuthError("polygon", "HTTP 403")
    )
    runner = ChainRunner({"polygon": polygon}, planner)
    await planner.configure("polygon", [RateLimit(1000, 1.0, "second")])

    async def ask() -> Any:
        return await runner.run(
            ["polygon"],
            "quote",
            lambda p: p.quote("AAPL", AssetClass.STOCK),
            symbol="AAPL",
            asset_class=AssetClass.STOCK,
            priority=Priority.MEDIUM,
            batch=BatchSpec.quotes("AAPL", AssetClass.STOCK),
        )

    quote, source = await ask()
    assert (source, quote.price) == ("polygon", 42.0)
    assert (polygon.batch_calls, polygon.single_calls) == (1, 1)
    await ask()
    assert polygon.batch_calls == 1, "a refused batch endpoint is not tried again"
    assert runner.breakers["polygon"].state.value == "closed"


async def test_follow_up_requests_inside_a_call_are_budgeted() -> None:
    """An adapter's second and third request inside one granted call (a crumb, a symbol list,
    a next page) are charged to the provider's windows: with 2 units per 10 s the third one
    cannot go before the deadline."""
    from marketsvc.providers import CALL_BUDGET

    class ChattyProvider(FakeProvider):
        async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
            budget = CALL_BUDGET.get()
            assert budget is not None
            for _ in range(3):
                await budget.before_request()
                self.single_calls += 1
            return await super().quote(symbol, asset_class)

    planner = CallPlanner(LocalLimiter(), workers=1, retry=RetryPolicy(attempts=1))
    await planner.configure("chatty", [RateLimit(2, 10.0, "second")])
    await planner.start()
    try:
        chatty = ChattyProvider("chatty", 1.0)
        runner = ChainRunner({"chatty": chatty}, planner, deadline_seconds=1.0)
        with pytest.raises(AllProvidersFailedError, match="chatty: rate limit reached"):
            await runner.run(
                ["chatty"],
                "quote",
                lambda p: p.quote("AAPL", AssetClass.STOCK),
                symbol="AAPL",
                asset_class=AssetClass.STOCK,
                priority=Priority.MEDIUM,
            )
        assert chatty.single_calls == 2, "the third request must not go out"
        usage = await planner._limiter.usage("chatty")
        assert usage[0].used == 2
    finally:
        await planner.aclose()


async def test_interactive_call_does_not_wait_out_a_retry_after_when_a_fallback_exists() -> None:
    """Reliability finding: under a 429 storm on the primary, MEDIUM requests waited 2-10 s
    for the Retry-After although another provider could answer at once."""
    import time as _time

    planner = CallPlanner(LocalLimiter(), workers=2)  # default retries honour Retry-After
    await planner.start()
    try:
        providers = {
            "a": FakeProvider("a", RateLimitedError("a", retry_after=7)),
            "b": FakeProvider("b", 5.0),
        }
        runner = ChainRunner(providers, planner)
        t0 = _time.monotonic()
        quote, source = await run(runner, ["a", "b"])
        assert source == "b" and quote.price == 5.0
        assert _time.monotonic() - t0 < 1.0
    finally:
        await planner.aclose()
