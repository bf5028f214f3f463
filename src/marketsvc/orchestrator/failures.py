"""Why a provider could not answer, said once for clients (the 503's detail) and once for
operators (a WARNING when a provider starts failing and when it recovers, not per request).

The words come from the typed errors: the provider boundary (``providers/_http.py``) already
turned sockets and status codes into a ``reason``; nothing here names a Python class.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from marketsvc.errors import (
    CallTooHeavyError,
    DeadlineExceededError,
    MarketsvcError,
    PlannerError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SaturatedError,
)

log = logging.getLogger(__name__)

NO_NETWORK_HINT = "no network? run with SANDBOX=true to use the built-in emulator"


def describe(exc: MarketsvcError) -> str:
    """One provider's failure in a few words: ``DNS lookup failed``, ``HTTP 503``,
    ``throttled (HTTP 429, retry after 7 s)``, ``circuit open``..."""
    if isinstance(exc, RateLimitedError):
        after = f", retry after {math.ceil(exc.retry_after)} s" if exc.retry_after else ""
        return f"throttled ({exc.message}{after})"
    if isinstance(exc, ProviderUnavailableError):
        return exc.message
    if isinstance(exc, ProviderError):
        return f"{exc.kind.replace('_', ' ')} ({exc.message})"
    if isinstance(exc, CallTooHeavyError):
        return f"call of weight {exc.weight} exceeds its rate limit ({exc.most} per window)"
    if isinstance(exc, SaturatedError):
        return "queue full"
    if isinstance(exc, DeadlineExceededError):
        return "rate limit reached" if "budget" in str(exc) else "no answer before the deadline"
    if isinstance(exc, PlannerError):
        return "not sent"
    return "failed"


def summary(symbol: str, failures: Mapping[str, str], *, offline_hint: bool) -> str:
    """The detail of a 503: every provider's reason, in chain order."""
    text = f"every provider failed for {symbol}: " + ", ".join(
        f"{name}: {why}" for name, why in failures.items()
    )
    return f"{text}. {NO_NETWORK_HINT}" if offline_hint else text


class FailureLog:
    """Logs each provider's transitions only: up → failing (with the reason), failing → up."""

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}

    def failed(self, provider: str, exc: MarketsvcError) -> None:
        if provider in self._failing:
            return
        why = describe(exc)
        self._failing[provider] = why
        log.warning("provider %s is failing: %s", provider, why, extra={"provider": provider})

    def succeeded(self, provider: str) -> None:
        why = self._failing.pop(provider, None)
        if why is not None:
            log.warning(
                "provider %s recovered (it was failing: %s)",
                provider,
                why,
                extra={"provider": provider},
            )

    def failing(self) -> dict[str, str]:
        return dict(self._failing)
