"""Pure-ASGI middleware (cheap on the hot path: no BaseHTTPMiddleware)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketsvc.api.errors import problem
from marketsvc.logs import REQUEST_ID, redact_query, request_id_from
from marketsvc.metrics import ServiceMetrics

log = logging.getLogger(__name__)
access_log = logging.getLogger("marketsvc.access")


class MetricsMiddleware:
    """The outermost layer, once per request: binds a request id (the client's ``X-Request-ID``
    when sane, else a new one) to every log line and echoes it in the answer, writes one access
    line, and counts the request and its latency per route template (never per raw path, so a
    flood of distinct symbols cannot explode the label set)."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], ServiceMetrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        token = REQUEST_ID.set(request_id)
        id_header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        tier: str | None = None
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, tier, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = list(message.get("headers", ()))
                for name, value in headers:
                    # The data routes name the tier that answered: "l1;dur=0.071".
                    if name == b"server-timing":
                        tier = value.partition(b";")[0].decode("latin-1")
                        break
                headers.append(id_header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            if started:
                raise
            # Answered here rather than by Starlette's outer error layer, so the 500 carries
            # the request id and its traceback is logged once, with that id.
            log.exception("unhandled error")
            await problem(500, "internal error", slug="internal")(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - t0
            metrics = self.metrics()
            if metrics is not None:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                metrics.observe(template, scope["method"], status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                query = scope.get("query_string", b"")
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"][:512],
                        "query": redact_query(query.decode("latin-1")[:1024]) if query else None,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "tier": tier,
                    },
                )
            REQUEST_ID.reset(token)


class InFlight:
    """Requests in progress, shared by the admission layer and the ASGI fast path (which
    leaves a full process's requests to the admission layer, so they get its 503)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.rejected = 0

    def full(self) -> bool:
        return self.count >= self.limit


class AdmissionMiddleware:
    """At most ``limit`` requests in progress; the next one gets an immediate 503 with
    Retry-After instead of joining an unbounded queue. Probes are always admitted, so an
    overloaded replica still reports itself alive."""

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(
        self, app: ASGIApp, limit: int, retry_after: int = 1, gate: InFlight | None = None
    ) -> None:
        self.app = app
        self.gate = gate if gate is not None else InFlight(limit)
        self.retry_after = retry_after

    @property
    def in_flight(self) -> int:
        return self.gate.count

    @property
    def rejected(self) -> int:
        return self.gate.rejected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        gate = self.gate
        if gate.count >= gate.limit:
            gate.rejected += 1
            body = orjson.dumps(
                {
                    "type": "https://marketsvc.dev/problems/overloaded",
                    "title": "Service unavailable",
                    "status": 503,
                    "detail": "too many requests in progress; retry shortly",
                }
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"retry-after", str(self.retry_after).encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        gate.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gate.count -= 1
