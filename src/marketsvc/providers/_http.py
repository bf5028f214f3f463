"""The one HTTP helper every adapter uses.

It turns transport failures, status codes and unusable bodies into ``ProviderError``
subclasses once, at the boundary (``raise ... from exc``), and caps response size. Messages are
built from the provider name and status only, never from URLs (which may carry a key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
import orjson

from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
)

Params = Mapping[str, str | int | float | bool]


class CallBudget(Protocol):
    """The budget of one planner-granted call. The grant covers the call's first request;
    an adapter's further requests inside it (a crumb, a symbol list, the next page) must be
    paid for too, or a provider at its limit would get limit + 1 calls."""

    async def before_request(self) -> None: ...


# Set by whoever runs an adapter under a rate limit (the orchestrator's chain runner), inside
# the task that runs the call; unset, requests are not counted (tests, one-off scripts).
CALL_BUDGET: ContextVar[CallBudget | None] = ContextVar("call_budget", default=None)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True, slots=True)
class Response:
    """A fully read upstream answer."""

    provider: str
    status: int
    headers: httpx.Headers
    body: bytes
    received_at: float

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise BadDataError(self.provider, f"HTTP {self.status}: body is not JSON") from exc

    def json_or_none(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"), self.received_at)

    def raise_for_status(self) -> None:
        """The generic mapping of an HTTP status to an error; adapters check their own quirks
        (errors inside a 200, vendor codes) before calling this."""
        status = self.status
        if status < 400:
            return
        if status in (418, 429):
            raise RateLimitedError(self.provider, f"HTTP {status}", retry_after=self.retry_after())
        if status in (401, 402, 403):
            raise ProviderAuthError(
                self.provider, f"HTTP {status}: key missing/invalid or not in plan"
            )
        if status == 408 or status >= 500:
            raise ProviderUnavailableError(self.provider, f"HTTP {status}")
        raise BadDataError(self.provider, f"HTTP {status}: request rejected")


class ProviderHttp:
    """Wraps the provider's shared ``httpx.AsyncClient`` (created and closed by the Container)."""

    def __init__(
        self,
        provider: str,
        client: httpx.AsyncClient,
        *,
        max_bytes: int = 20_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self._client = client
        self._max_bytes = max_bytes
        self._clock = clock

    async def get(
        self,
        path: str,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET ``path`` (relative to the client's base URL, or absolute for ``next_url``)."""
        budget = CALL_BUDGET.get()
        if budget is not None:
            await budget.before_request()
        try:
            async with self._client.stream(
                "GET",
                path.lstrip("/") if not path.startswith("http") else path,
                params=params,
                headers=headers,
            ) as resp:
                body = await self._read_capped(resp)
                return Response(self.provider, resp.status_code, resp.headers, body, self._clock())
        except httpx.TimeoutException as exc:
            raise ProviderUnavailableError(self.provider, "timeout") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailableError(
                self.provider, f"connection failed ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(
                self.provider, f"HTTP error ({type(exc).__name__})"
            ) from exc

    async def _read_capped(self, resp: httpx.Response) -> bytes:
        declared = resp.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise BadDataError(self.provider, f"response larger than {self._max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise BadDataError(self.provider, f"response larger than {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def require(provider: str, cond: bool, what: str) -> None:
    """Raise BadDataError unless ``cond``: for schema checks inside ``_parse`` functions."""
    if not cond:
        raise BadDataError(provider, f"unexpected response shape: {what}")


def as_float(provider: str, value: Any, what: str) -> float:
    """Vendors send numbers as numbers or strings (Binance, Alpha Vantage); accept both."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise BadDataError(provider, f"unexpected response shape: {what} is not a number") from None


def opt_float(value: Any) -> float | None:
    """A number or None for missing / "None" / "-" / null values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result else None  # NaN → None
