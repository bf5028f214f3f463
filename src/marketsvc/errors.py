"""The one exception tree of marketsvc.

Everything the service raises on purpose derives from :class:`MarketsvcError`. HTTP status codes
live in ``api/errors.py`` only; this module knows nothing about HTTP.

::

    MarketsvcError
    ├── ConfigError                    bad settings (e.g. an unparsable ``<P>_RATE_LIMITS``)
    ├── InvalidInputError              a caller asked for something malformed
    ├── ProviderError                  one upstream call failed (carries ``provider``)
    │   ├── RateLimitedError           upstream throttled us (``retry_after`` seconds or None)
    │   ├── ProviderAuthError          key missing/invalid, or the plan lacks the endpoint
    │   ├── SymbolNotFoundError        the provider does not know the symbol
    │   ├── ProviderUnavailableError   timeout, connection error, 5xx (``reason`` says which)
    │   ├── BadDataError               non-JSON body, schema mismatch, oversized body
    │   ├── UnsupportedError           the provider cannot do this operation at all
    │   └── UnsafeRequestError         refused before sending: the URL path would escape
    ├── PlannerError                   the call planner refused or gave up on a call
    │   ├── DeadlineExceededError      the call could not be served before its deadline
    │   ├── SaturatedError             the provider's queue is full (``retry_after``)
    │   └── CallTooHeavyError          the call weighs more than one window of the limit allows
    ├── NotFoundError                  no provider knows the symbol (after the chain ran)
    └── AllProvidersFailedError        every capable provider failed and nothing stale is held

Messages never contain secrets: adapters build them from status codes and provider names,
never from URLs or upstream exception text.
"""

from __future__ import annotations


class MarketsvcError(Exception):
    """Base of every error marketsvc raises on purpose."""


class ConfigError(MarketsvcError):
    """A setting has a value the service cannot use."""


class CallLogError(MarketsvcError):
    """The durable log of granted provider calls could not be read or written."""


class InvalidInputError(MarketsvcError):
    """The caller's input is malformed (bad symbol, bad range, unknown data type)."""


class ProviderError(MarketsvcError):
    """One call to one upstream provider failed."""

    kind = "provider_error"

    def __init__(self, provider: str, message: str = "") -> None:
        self.provider = provider
        self.message = message or self.kind.replace("_", " ")
        super().__init__(f"{provider}: {self.message}")


class RateLimitedError(ProviderError):
    """The provider throttled us; ``retry_after`` is seconds to wait, when it said."""

    kind = "rate_limited"

    def __init__(self, provider: str, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    """The key is missing or invalid, or the plan does not include the endpoint."""

    kind = "auth"


class SymbolNotFoundError(ProviderError):
    """The provider does not know this symbol."""

    kind = "symbol_not_found"

    def __init__(self, provider: str, symbol: str, message: str = "") -> None:
        super().__init__(provider, message or f"unknown symbol {symbol}")
        self.symbol = symbol


class ProviderUnavailableError(ProviderError):
    """Timeout, connection failure or a 5xx answer. ``reason`` is one of ``REASONS`` (why the
    provider could not be used); ``message`` says it for people."""

    kind = "unavailable"
    REASONS = frozenset(
        {"dns", "refused", "connect", "timeout", "http_5xx", "circuit_open", "transport"}
    )

    def __init__(self, provider: str, message: str = "", reason: str = "transport") -> None:
        super().__init__(provider, message)
        self.reason = reason

    @property
    def network(self) -> bool:
        """True when the provider could not even be reached (no network, DNS, refused)."""
        return self.reason in ("dns", "refused", "connect")


class BadDataError(ProviderError):
    """The answer could not be used: not JSON, wrong shape, too large."""

    kind = "bad_data"


class UnsupportedError(ProviderError):
    """The provider does not offer this operation (or not for this asset class)."""

    kind = "unsupported"


class UnsafeRequestError(ProviderError):
    """ProviderHttp refused to send a request whose path has a ``.``/``..``/empty segment or
    leaves the base URL: an internal bug (symbols are checked before adapters), not the
    provider's fault, so it does not count against the provider's circuit."""

    kind = "unsafe_request"


class PlannerError(MarketsvcError):
    """The call planner could not run a call."""


class DeadlineExceededError(PlannerError):
    """The call could not be served before its deadline."""

    def __init__(self, provider: str, message: str = "deadline exceeded") -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class SaturatedError(PlannerError):
    """The provider's queue is full; try again after ``retry_after`` seconds."""

    def __init__(self, provider: str, retry_after: float = 1.0) -> None:
        super().__init__(f"{provider}: queue full")
        self.provider = provider
        self.retry_after = retry_after


class CallTooHeavyError(PlannerError):
    """A call weighs more than the configured limits allow in one window: it can never be
    granted as it is (a batch is shrunk before it gets here; a single call cannot be)."""

    def __init__(self, provider: str, weight: int, most: int, retry_after: float = 60.0) -> None:
        super().__init__(
            f"{provider}: a call of weight {weight} cannot fit its rate limit "
            f"(at most {most} per window)"
        )
        self.provider = provider
        self.weight = weight
        self.most = most
        self.retry_after = retry_after


class NotFoundError(MarketsvcError):
    """No provider in the chain knows the symbol."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"unknown symbol {symbol}")
        self.symbol = symbol


class AllProvidersFailedError(MarketsvcError):
    """Every capable provider failed and nothing stale could be served."""

    def __init__(self, message: str, retry_after: float = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
