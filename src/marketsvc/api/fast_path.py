"""The ASGI fast path: price requests a fresh L1 entry can answer, answered before FastAPI.

An L1 hit costs a dict lookup; FastAPI's routing, its request object, the Response class and
four middleware layers cost several times that (profiled: bench/results/). This outermost layer
recognises ``GET /api/market/price/{symbol}`` and ``/price/{base}/{quote}`` with no query or a
plain ``asset_class`` (the paths it is told it may answer), asks the orchestrator for an answer
that needs no await (``DataOrchestrator.price_hit``), and sends it with pre-encoded headers.

Anything else falls through, untouched, to the normal stack: a miss, a stale entry, a query it
does not recognise, a symbol the route would refuse (the route then writes the 422), a full
process (the admission layer then writes the 503), a request the ``allow`` hook refuses (client
keys, say), any error. What it answers is what the route would: the same orchestrator answer
rendered by the same ``envelope_json``, the same headers in the same order (``Server-Timing``,
``content-length``, ``content-type``, ``x-request-id``), one access line with the same fields
and the same request metrics under the route's template — a test compares the two byte for byte.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from prometheus_client.metrics import Counter, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from marketsvc.api.middleware import InFlight
from marketsvc.api.render import envelope_json
from marketsvc.domain import SYMBOL_PATTERN, AssetClass
from marketsvc.logs import REQUEST_ID, redact_query, request_id_from
from marketsvc.metrics import ServiceMetrics

access_log = logging.getLogger("marketsvc.access")

PRICE = "/api/market/price/{symbol}"
PAIR = "/api/market/price/{base}/{quote}"
PRICE_ROUTES = (PRICE, PAIR)
_PREFIX = "/api/market/price/"
_PART_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:_^=")
# Values the route reads as "false" (api/routes/market.py); a true flag changes the answer.
_FALSE = frozenset({"false", "0", "no", "off"})
_CLASSES = {"crypto": AssetClass.CRYPTO, "stock": AssetClass.STOCK}
_JSON = (b"content-type", b"application/json")


# What the ``allow`` hook says of a request: False sends it the normal way; True lets this layer
# answer it; a callable lets it answer and is then told (route template, tier, body size), so
# the usage of a client key accepted from memory is metered as on the normal route.
Admit = bool | Callable[[str, str, int], None]


class FastPathMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Callable[[], ServiceMetrics | None],
        gate: InFlight,
        routes: Collection[str] = PRICE_ROUTES,
        allow: Callable[[Scope], Admit] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.gate = gate
        self.routes = frozenset(routes) & set(PRICE_ROUTES)
        self.allow = allow
        self._children: dict[str, tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(_PREFIX) and await self._answer(scope, path, send):
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, path: str, send: Send) -> bool:
        """Answer and return True, or return False having sent nothing."""
        t0 = time.perf_counter()
        template, symbol = self._route(path)
        if symbol is None or self.gate.full() or scope.get("root_path"):
            return False
        query: bytes = scope.get("query_string", b"")
        asset_class = None
        if query:
            parsed = _price_query(query)
            if parsed is False:
                return False
            asset_class = parsed
        admitted: Admit = True if self.allow is None else self.allow(scope)
        if admitted is False:
            return False
        state = scope.get("state")
        container: Any = state.get("container") if state else None
        if container is None:
            return False
        try:
            env = container.orchestrator.price_hit(symbol, asset_class)
        except Exception:
            return False  # the route answers it (a refused symbol: its 422)
        if env is None:
            return False
        body = envelope_json(env, container.settings.sandbox)
        request_id = request_id_from(scope["headers"])
        timing = f"{env.tier};dur={(time.perf_counter() - t0) * 1000:.3f}"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"server-timing", timing.encode("latin-1")),
                    (b"content-length", str(len(body)).encode("latin-1")),
                    _JSON,
                    (b"x-request-id", request_id.encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self._account(scope, template, request_id, env.tier, time.perf_counter() - t0)
        if callable(admitted):
            admitted(template, env.tier, len(body))  # the client key's usage
        return True

    def _route(self, path: str) -> tuple[str, str | None]:
        """The route template and the symbol it names, or a None symbol when the path is not
        one this layer answers or a part would fail the route's own pattern."""
        rest = path[len(_PREFIX) :]
        base, slash, quote = rest.partition("/")
        if not slash:
            if PRICE in self.routes and SYMBOL_PATTERN.fullmatch(rest):
                return PRICE, rest
            return PRICE, None
        if (
            PAIR in self.routes
            and 0 < len(base) <= 32
            and 0 < len(quote) <= 32
            and _PART_CHARS.issuperset(base)
            and _PART_CHARS.issuperset(quote)
        ):
            return PAIR, f"{base}-{quote}"
        return PAIR, None

    def _account(
        self, scope: Scope, template: str, request_id: str, tier: str, elapsed: float
    ) -> None:
        """What MetricsMiddleware does for a request it saw: the metrics and the access line."""
        metrics = self.metrics()
        if metrics is not None:
            children = self._children.get(template)
            if children is None:
                # prometheus_client returns the same child for the same labels: look it up once.
                children = (
                    metrics.requests.labels(template, "GET", "200"),
                    metrics.latency.labels(template),
                )
                self._children[template] = children
            children[0].inc()
            children[1].observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            query: bytes = scope.get("query_string", b"")
            token = REQUEST_ID.set(request_id)
            try:
                access_log.info(
                    "request",
                    extra={
                        "method": "GET",
                        "path": scope["path"][:512],
                        "query": redact_query(query.decode("latin-1")[:1024]) if query else None,
                        "status": 200,
                        "duration_ms": round(elapsed * 1000, 3),
                        "tier": tier,
                    },
                )
            finally:
                REQUEST_ID.reset(token)


def _price_query(query: bytes) -> AssetClass | bool | None:
    """The ``asset_class`` of a query this layer can answer, ``None`` when it names none, or
    ``False`` when the route must read it (a true flag, an unknown or repeated name, escapes)."""
    if b"%" in query or b"+" in query:
        return False
    asset_class: AssetClass | None = None
    seen: set[str] = set()
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name in seen:
            return False
        seen.add(name)
        if name == "asset_class":
            if value not in _CLASSES:
                return False
            asset_class = _CLASSES[value]
        elif name in ("validate", "force_refresh"):
            if value.lower() not in _FALSE:
                return False
        else:
            return False
    return asset_class
