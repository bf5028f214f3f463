"""Pure-ASGI middleware (cheap on the hot path: no BaseHTTPMiddleware)."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketsvc.metrics import ServiceMetrics


class MetricsMiddleware:
    """Counts requests and their latency per route template (never per raw path, so a flood
    of distinct symbols cannot explode the label set)."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], ServiceMetrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics = self.metrics()
            if metrics is not None:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                metrics.observe(template, scope["method"], status, time.perf_counter() - t0)


class AdmissionMiddleware:
    """At most ``limit`` requests in progress; the next one gets an immediate 503 with
    Retry-After instead of joining an unbounded queue. Probes are always admitted, so an
    overloaded replica still reports itself alive."""

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(self, app: ASGIApp, limit: int, retry_after: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.in_flight = 0
        self.rejected = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.rejected += 1
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
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
