"""The pure sliding-window arithmetic, on explicit instants."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketsvc.domain import RateLimit
from marketsvc.planner.window import MIN_WAIT, SlidingWindowLimiter


def approx(expected: float) -> object:
    # Waits carry a microsecond of rounding margin (never early, at most 1 us late).
    return pytest.approx(expected, abs=1e-5)


def limits(text: str) -> tuple[RateLimit, ...]:
    return RateLimit.parse_many(text)


def test_window_edge_is_exact() -> None:
    limiter = SlidingWindowLimiter([RateLimit(3, 10.0, "x")])
    assert [limiter.reserve(1, t) for t in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    assert limiter.reserve(1, 3.0) == approx(7.0)
    assert limiter.reserve(1, 9.5) == approx(0.5)
    # The call at t=0 occupies [0, 10): at t=10 it has left the window.
    assert limiter.reserve(1, 10.0) == 0.0
    assert limiter.reserve(1, 10.0) == approx(1.0)


def test_refusal_records_nothing() -> None:
    limiter = SlidingWindowLimiter([RateLimit(2, 60.0, "minute")])
    limiter.reserve(1, 0.0)
    limiter.reserve(1, 0.0)
    for t in (1.0, 2.0, 3.0):
        assert limiter.reserve(1, t) > 0
    assert limiter.usage(3.0)[0].used == 2
    assert limiter.reserve(1, 60.0) == 0.0  # refusals did not push the next grant back
    assert limiter.usage(60.0)[0].used == 1


def test_weights_count_units_and_wait_for_enough_to_leave() -> None:
    limiter = SlidingWindowLimiter([RateLimit(10, 60.0, "minute")])
    assert limiter.reserve(6, 0.0) == 0.0
    assert limiter.reserve(3, 1.0) == 0.0
    # 9 used: 5 more need the 6 units of t=0 to leave (at 60); 1 more fits now.
    assert limiter.reserve(5, 2.0) == approx(58.0)
    assert limiter.reserve(1, 2.0) == 0.0
    # 10 used; 4 more need both t=0 (6) ... 6 >= 4 so t=0 leaving suffices.
    assert limiter.reserve(4, 3.0) == approx(57.0)
    # 7 more need t=0 (6) and t=1 (3) to leave: at 61.
    assert limiter.reserve(7, 3.0) == approx(58.0)
    usage = limiter.usage(3.0)[0]
    assert (usage.used, usage.left) == (10, 0)


def test_several_windows_all_hold() -> None:
    limiter = SlidingWindowLimiter(limits("2/second;3/minute"))
    assert limiter.reserve(1, 0.0) == 0.0
    assert limiter.reserve(1, 0.1) == 0.0
    assert limiter.reserve(1, 0.5) == approx(0.5)  # the second window is full
    assert limiter.reserve(1, 1.0) == 0.0
    assert limiter.reserve(1, 2.0) == approx(58.0)  # the minute is full
    assert [u.left for u in limiter.usage(2.0)] == [2, 0]


def test_not_a_token_bucket_no_double_burst_across_a_boundary() -> None:
    # A bucket of 5 refilled 5/10 s lets 5 go at t=9.9 and 5 more at t=10.1: 10 in 0.2 s.
    limiter = SlidingWindowLimiter([RateLimit(5, 10.0, "x")])
    for _ in range(5):
        assert limiter.reserve(1, 9.9) == 0.0
    assert limiter.reserve(1, 10.1) == approx(9.8)
    assert limiter.reserve(1, 19.9) == 0.0


def test_block_until_refuses_and_never_shortens() -> None:
    limiter = SlidingWindowLimiter([RateLimit(100, 1.0, "second")])
    limiter.block_until(7.0)
    limiter.block_until(3.0)
    assert limiter.reserve(1, 0.0) == approx(7.0)
    assert limiter.reserve(1, 6.5) == approx(0.5)
    assert limiter.reserve(1, 7.0) == 0.0


def test_history_counts_even_when_it_overfills() -> None:
    limiter = SlidingWindowLimiter([RateLimit(25, 86400.0, "day")])
    limiter.record_many([(float(t), 1) for t in range(30)])
    assert limiter.usage(100.0)[0].used == 30
    assert limiter.reserve(1, 100.0) == approx(86400.0 + 5 - 100.0)


def test_impossible_weights_are_errors() -> None:
    limiter = SlidingWindowLimiter(limits("5/second;100/minute"))
    with pytest.raises(ValueError, match="exceeds"):
        limiter.reserve(6, 0.0)
    with pytest.raises(ValueError, match="at least 1"):
        limiter.reserve(0, 0.0)
    with pytest.raises(ValueError, match="no 'unlimited'"):
        SlidingWindowLimiter([])


def test_a_wall_clock_stepping_back_does_not_undercount() -> None:
    limiter = SlidingWindowLimiter([RateLimit(2, 10.0, "x")])
    limiter.reserve(1, 100.0)
    limiter.reserve(1, 95.0)  # clock stepped back 5 s: counted at 100, not 95
    assert limiter.reserve(1, 106.0) == approx(4.0)


_limit_sets = st.lists(
    st.builds(
        RateLimit,
        st.integers(1, 8),
        st.sampled_from([0.5, 1.0, 3.0, 10.0]),
        st.just("x"),
    ),
    min_size=1,
    max_size=3,
)
_attempts = st.lists(
    st.tuples(st.sampled_from([0.0, 0.0, 0.01, 0.1, 0.25, 0.5, 1.0, 2.5]), st.integers(1, 3)),
    min_size=1,
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(_limit_sets, _attempts)
def test_never_more_than_n_in_any_window_and_waits_are_exact(
    rate_limits: list[RateLimit], attempts: list[tuple[float, int]]
) -> None:
    limiter = SlidingWindowLimiter(rate_limits)
    max_weight = min(r.limit for r in rate_limits)
    now = 0.0
    granted: list[tuple[float, int]] = []
    for dt, raw_weight in attempts:
        now += dt
        weight = min(raw_weight, max_weight)
        before = copy.deepcopy(limiter)
        wait = limiter.reserve(weight, now)
        if wait == 0.0:
            granted.append((now, weight))
            continue
        # Exact: granted at now + wait, and (when measurable) refused just before.
        assert copy.deepcopy(before).reserve(weight, now + wait) == 0.0
        if wait > 2 * MIN_WAIT:
            assert copy.deepcopy(before).reserve(weight, now + wait - MIN_WAIT) > 0.0
    # Any window [s, s + W) holds at most N units; the worst s is a grant instant.
    for rate in rate_limits:
        for start, _ in granted:
            inside = sum(w for t, w in granted if start <= t < start + rate.window)
            assert inside <= rate.limit
