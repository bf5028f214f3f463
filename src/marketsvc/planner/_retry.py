"""Retry policy (which failures, how long to wait) and the retry budget."""

from __future__ import annotations

import random
from dataclasses import dataclass

from marketsvc.errors import ProviderUnavailableError, RateLimitedError

# Only these say "the same request may work later"; auth, bad data, unknown symbol never will.
RETRYABLE: tuple[type[Exception], ...] = (ProviderUnavailableError, RateLimitedError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` counts the first try; backoff is full jitter: random(0, min(cap, base·2^n)).

    The budget allows a retry while the retries recently spent stay within
    ``max(budget_minimum, budget_ratio × calls recently offered)``; "recently" decays with
    ``budget_half_life`` seconds.
    """

    attempts: int = 3
    base: float = 0.1
    cap: float = 2.0
    budget_ratio: float = 0.2
    budget_minimum: int = 3
    budget_half_life: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.cap < 0 or self.budget_half_life <= 0:
            raise ValueError(f"invalid retry policy {self!r}")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Delay before retry ``retry_number`` (0 for the first retry)."""
        return rng.uniform(0.0, min(self.cap, self.base * 2.0**retry_number))


class RetryBudget:
    """Caps retries at a share of the calls offered, so an outage never becomes a retry storm.

    A budget on *concurrent* retries (Envoy's) does not bound the total while calls queue behind
    a rate limit: each queued call retries in turn once a slot frees, and every call ends up
    tried ``attempts`` times. Counting offered calls and spent retries, both decayed with the
    same half-life, bounds the ratio itself: retries ≤ 20 % of the calls offered (plus the small
    minimum that lets a quiet provider still retry a lone call).
    """

    __slots__ = ("_calls", "_last", "_policy", "_retries")

    def __init__(self, policy: RetryPolicy, now: float) -> None:
        self._policy = policy
        self._calls = 0.0
        self._retries = 0.0
        self._last = now

    def _decay(self, now: float) -> None:
        if now > self._last:
            factor = 0.5 ** ((now - self._last) / self._policy.budget_half_life)
            self._calls *= factor
            self._retries *= factor
            self._last = now

    def offered(self, now: float) -> None:
        """One new call entered the planner."""
        self._decay(now)
        self._calls += 1.0

    def try_spend(self, now: float) -> bool:
        """Take one retry from the budget if there is room."""
        self._decay(now)
        allowed = max(float(self._policy.budget_minimum), self._policy.budget_ratio * self._calls)
        # The epsilon keeps 20 retries allowed after exactly 100 calls despite float rounding.
        if self._retries + 1.0 <= allowed + 1e-9:
            self._retries += 1.0
            return True
        return False


def retry_delay(
    exc: Exception, retry_number: int, policy: RetryPolicy, rng: random.Random
) -> float | None:
    """Seconds to wait before retrying after ``exc``, or None if it must not be retried."""
    if not isinstance(exc, RETRYABLE) or retry_number + 1 >= policy.attempts:
        return None
    delay = policy.backoff(retry_number, rng)
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        # The provider said when: asking sooner only earns another 429.
        delay = max(delay, exc.retry_after)
    return delay
