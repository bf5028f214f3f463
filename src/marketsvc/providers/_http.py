"""The one HTTP helper every adapter uses.

It turns transport failures, status codes and unusable bodies into ``ProviderError``
subclasses once, at the boundary (``raise ... from exc``), and caps response size. Messages are
built from the provider name and status only, never from URLs (which may carry a key).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import unicodedata
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import httpx
import orjson

from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
    UnsafeRequestError,
)

log = logging.getLogger(__name__)

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


def path_segment(value: str) -> str:
    """``value`` as exactly one URL path segment, for every value an adapter puts in a path.

    ``/``, ``?``, ``#``, ``%`` and everything else outside RFC 3986's unreserved set and ``:``
    are percent-encoded, so a symbol can neither add segments nor start a query. ``.`` stays
    literal (``BRK.B``); a value of ``.`` or ``..`` therefore stays a dot segment, which
    ProviderHttp refuses to send.
    """
    return quote(value, safe=":")


_DOT_SEGMENTS = frozenset({".", ".."})
_SEPARATORS = re.compile(r"[/\\]")


def unsafe_path_reason(path: str) -> str | None:
    """Why a request for ``path`` (relative to the base URL, or absolute) must not be sent.

    httpx (like any URL library) resolves ``.`` and ``..`` segments before sending, so
    ``chart/..`` silently became another endpoint. Segments are also checked decoded
    (``%2e%2e``), split at encoded slashes (``A%2F..``) and NFKC-folded (``．．``), the forms
    an upstream server or proxy might turn back into a dot segment.
    """
    absolute = path.startswith(("http://", "https://"))
    parts = urlsplit(path)
    if "#" in path:
        return "a fragment"
    if not absolute and "?" in path:
        return "a query inside the path"  # parameters go through ``params``, encoded
    if not absolute and parts.scheme:
        return "a scheme-like first segment"  # httpx would drop "x:" from "x:y/z"
    segments = parts.path.split("/")
    for i, segment in enumerate(segments):
        if not segment and 0 < i < len(segments) - 1:
            return "an empty path segment"
        decoded = unicodedata.normalize("NFKC", unquote(segment))
        if any(piece in _DOT_SEGMENTS for piece in _SEPARATORS.split(decoded)):
            return "a '.' or '..' path segment"
    return None


def _escapes_base(base: httpx.URL, url: httpx.URL) -> bool:
    """True when ``url`` left the base URL's origin or path prefix."""
    if not base.host:
        return False  # a client without a base URL: every path is absolute, vetted above
    prefix = base.raw_path.split(b"?")[0]
    prefix = prefix if prefix.endswith(b"/") else prefix + b"/"
    return (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port) or not (
        url.raw_path.split(b"?")[0] + b"/"
    ).startswith(prefix)


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
        absolute = path.startswith(("http://", "https://"))
        try:
            request = self._client.build_request(
                "GET", path if absolute else path.lstrip("/"), params=params, headers=headers
            )
        except httpx.InvalidURL as exc:  # not an HTTPError: it would surface as a 500
            raise UnsafeRequestError(self.provider, "refused to send an invalid URL") from exc
        # Absolute URLs (a pagination link, Yahoo's cookie host) are the adapter's to vet for
        # origin; every relative path must stay under the base URL it was built against.
        reason = unsafe_path_reason(path) or (
            "a path outside the base URL"
            if not absolute and _escapes_base(self._client.base_url, request.url)
            else None
        )
        if reason is not None:
            # A bug upstream of here (symbols.resolve lets no such symbol through): loud in
            # the log, but never a request. The URL itself is not logged (it may hold a key).
            log.error("refused an upstream request", extra={"provider": self.provider})
            raise UnsafeRequestError(self.provider, f"refused to send a request with {reason}")
        budget = CALL_BUDGET.get()
        if budget is not None:
            await budget.before_request(weight)
        try:
            async with asyncio.timeout(self._attempt_timeout):
                resp = await self._client.send(request, stream=True)
                try:
                    body = await self._read_capped(resp)
                finally:
                    await resp.aclose()
                return Response(self.provider, resp.status_code, resp.headers, body, self._clock())
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
