"""The one HTTP helper every adapter uses.

It turns transport failures, status codes and unusable bodies into ``ProviderError``
subclasses once, at the boundary (``raise ... from exc``), and caps response size. Messages are
built from the provider name and status only, never from URLs (which may carry a key).
"""

from __future__ import annotations

import asyncio
import socket
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
    paid for too, or a provider at its limit would get limit + 1 calls. ``weight`` is the
    request's own weight (Binance's exchangeInfo: 20)."""

    async def before_request(self, weight: int = 1) -> None: ...


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
        if status == 408:
            raise ProviderUnavailableError(self.provider, "HTTP 408", reason="timeout")
        if status >= 500:
            raise ProviderUnavailableError(self.provider, f"HTTP {status}", reason="http_5xx")
        raise BadDataError(self.provider, f"HTTP {status}: request rejected")


class ProviderHttp:
    """Wraps the provider's shared ``httpx.AsyncClient`` (created and closed by the Container).

    ``attempt_timeout`` bounds each request as a whole (connect, headers and the full body):
    httpx's own read timeout restarts with every chunk, so an upstream that trickles a byte a
    second would otherwise hold a request for as long as it likes.
    """

    def __init__(
        self,
        provider: str,
        client: httpx.AsyncClient,
        *,
        max_bytes: int = 20_000_000,
        attempt_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self._client = client
        self._max_bytes = max_bytes
        self._attempt_timeout = attempt_timeout
        self._clock = clock

    async def get(
        self,
        path: str,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        weight: int = 1,
    ) -> Response:
        """GET ``path`` (relative to the client's base URL, or absolute for ``next_url``);
        ``weight`` is what the provider charges for this request."""
        budget = CALL_BUDGET.get()
        if budget is not None:
            await budget.before_request(weight)
        try:
            async with asyncio.timeout(self._attempt_timeout):
                async with self._client.stream(
                    "GET",
                    path.lstrip("/") if not path.startswith("http") else path,
                    params=params,
                    headers=headers,
                ) as resp:
                    body = await self._read_capped(resp)
                    received = self._clock()
                    return Response(self.provider, resp.status_code, resp.headers, body, received)
        except httpx.HTTPError as exc:
            raise unreachable(self.provider, exc) from exc
        except TimeoutError as exc:
            raise ProviderUnavailableError(
                self.provider, f"no answer within {self._attempt_timeout:g} s", reason="timeout"
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


def unreachable(provider: str, exc: httpx.HTTPError) -> ProviderUnavailableError:
    """Why a request got no answer, in words for the client (no exception class names)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderUnavailableError(provider, "connect timed out", reason="timeout")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailableError(provider, "timed out", reason="timeout")
    if isinstance(exc, httpx.ConnectError):
        causes = _causes(exc)
        if any(isinstance(c, socket.gaierror) for c in causes):
            return ProviderUnavailableError(provider, "DNS lookup failed", reason="dns")
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return ProviderUnavailableError(provider, "connection refused", reason="refused")
        return ProviderUnavailableError(provider, "could not connect", reason="connect")
    if isinstance(exc, httpx.TransportError):
        return ProviderUnavailableError(provider, "connection dropped", reason="transport")
    return ProviderUnavailableError(provider, "HTTP transport error", reason="transport")


def _causes(exc: BaseException) -> list[BaseException]:
    """The exceptions an httpx error wraps (httpcore's, then the socket's), outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


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
