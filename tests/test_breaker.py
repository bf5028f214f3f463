from __future__ import annotations

from marketsvc.orchestrator.breaker import BreakerPolicy, BreakerState, ProviderBreaker
from tests.fakes import FakeClock


def test_opens_after_five_consecutive_failures_and_refuses_calls() -> None:
    clock = FakeClock(1000.0)
    br = ProviderBreaker(BreakerPolicy(), clock)
    for _ in range(4):
        assert br.allow()
        br.record_failure("unavailable")
    assert br.state is BreakerState.CLOSED
    br.record_failure("unavailable")
    assert br.state is BreakerState.OPEN
    assert not br.allow()
    assert br.retry_in() == 5.0


def test_opens_on_failure_ratio_over_min_calls() -> None:
    clock = FakeClock(1000.0)
    br = ProviderBreaker(BreakerPolicy(), clock)
    for i in range(20):  # alternate: never 5 in a row, but 50 % of 20 calls
        clock.advance(0.5)
        if i % 2:
            br.record_failure("unavailable")
        else:
            br.record_success()
    assert br.state is BreakerState.OPEN


def test_ratio_ignores_calls_older_than_the_window() -> None:
    clock = FakeClock(1000.0)
    br = ProviderBreaker(BreakerPolicy(), clock)
    for _ in range(10):
        br.record_failure("x")
        br.record_success()
    clock.advance(31)
    br.record_failure("x")
    assert br.state is BreakerState.CLOSED


def test_half_open_admits_one_probe_success_closes() -> None:
    clock = FakeClock(1000.0)
    br = ProviderBreaker(BreakerPolicy(), clock)
    for _ in range(5):
        br.record_failure("x")
    clock.advance(5.0)
    assert br.allow()  # the probe
    assert br.state is BreakerState.HALF_OPEN
    assert not br.allow()  # only one probe at a time
    br.record_success()
    assert br.state is BreakerState.CLOSED
    assert br.allow()


def test_break_time_grows_with_consecutive_opens_and_is_capped() -> None:
    clock = FakeClock(1000.0)
    br = ProviderBreaker(BreakerPolicy(max_break=30.0), clock)
    for _ in range(5):
        br.record_failure("x")
    breaks = []
    for _ in range(5):
        breaks.append(br.retry_in())
        clock.advance(br.retry_in())
        assert br.allow()
        br.record_failure("x")  # failed probe re-opens
    assert breaks == [5.0, 10.0, 20.0, 30.0, 30.0]
