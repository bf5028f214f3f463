"""Client keys at the edge (pure ASGI, so an L1 hit pays a dict lookup and a SHA-256, not a
FastAPI dependency): who is calling, may they, and how much have they used.

Which paths need what:
- ``/api/market/usage``: always a key (it answers "my usage").
- the other data paths under ``/api/market``: a key when ``API_KEYS_REQUIRED=true``.
- ``/api/market/health``, ``/stats``, ``/cache/stats``: open, like probes, ``/metrics`` and
  ``/docs`` (everything outside the prefix is never looked at).
- admin paths: the admin bearer (``api/auth.py``), or a client key with the ``admin`` scope.
A key presented on any path under the prefix is checked (401 unknown, 403 revoked, expired or
lacking the scope), counted against its limits (429 with ``Retry-After`` and the IETF
``RateLimit``/``RateLimit-Policy`` fields) and metered, refused requests included.

A bearer token is taken as a client key only when it looks like one (``msk_...``), so the
admin token keeps working on the same header.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketsvc.keys import ClientKey, KeyService, Refusal, looks_like_key
from marketsvc.keys import Scope as KeyScope

PREFIX = "/api/market/"
# Every data surface a key guards: the REST API (streams included) and the MCP server.
GUARDED = (PREFIX, "/mcp")
SCOPE_KEY = "marketsvc.client_key"  # where routes find the accepted key (api/deps.py)
OPEN = frozenset({"/api/market/health", "/api/market/stats", "/api/market/cache/stats"})
USAGE = "/api/market/usage"
ADMIN = ("/api/market/admin/", "/api/market/cache/clear", "/api/market/prefetch")

_DETAIL = {
    Refusal.MISSING: (401, "a client key is required (Authorization: Bearer or X-API-Key)"),
    Refusal.INVALID: (401, "the client key is not valid"),
    Refusal.REVOKED: (403, "the client key was revoked"),
    Refusal.EXPIRED: (403, "the client key has expired"),
    Refusal.SCOPE: (403, "the client key lacks the scope this endpoint needs"),
}
_TITLE = {401: "Unauthorized", 403: "Forbidden", 429: "Too many requests"}


def presented_key(scope: Scope) -> str | None:
    """``X-API-Key``, else a bearer token that looks like a client key."""
    bearer: str | None = None
    name: bytes
    value: bytes
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = value[7:].decode("latin-1").strip()
    return bearer if bearer is not None and looks_like_key(bearer) else None


def keys_of(scope: Scope) -> KeyService | None:
    """The key service of the Container in the lifespan state (None before it starts)."""
    container = scope.get("state", {}).get("container")
    return None if container is None else container.keys


class ClientKeyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        required: bool,
        keys: Callable[[Scope], KeyService | None] = keys_of,
    ) -> None:
        self.app = app
        self.keys = keys
        self.required = required
        self._template = _Templates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Every route exists by now: compile the templates before the first refusal
            # needs them (building the OpenAPI schema takes ~0.1 s).
            self._template.prepare(scope.get("app"))
        path: str = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not path.startswith(GUARDED):
            await self.app(scope, receive, send)
            return
        presented = presented_key(scope)
        if presented is None:
            if path == USAGE or (self.required and path not in OPEN and not _admin(path)):
                await _refuse(scope, send, Refusal.MISSING)
                return
            await self.app(scope, receive, send)
            return
        service = self.keys(scope)
        if service is None:  # the lifespan has not started: nothing to check against
            await self.app(scope, receive, send)
            return
        needed = KeyScope.ADMIN if _admin(path) else KeyScope.READ
        record, refusal = await service.authenticate(presented, needed)
        if record is None:
            await _refuse(scope, send, refusal or Refusal.INVALID)
            return
        if refusal is not None:
            await _refuse(scope, send, refusal)
            service.meter.count(record.id, self._template(scope), _DETAIL[refusal][0], None, 0)
            return
        await self._admitted(scope, receive, send, service, record)

    async def _admitted(
        self, scope: Scope, receive: Receive, send: Send, service: KeyService, record: ClientKey
    ) -> None:
        admission = await service.admit(record) if record.limits else None
        extra: list[tuple[bytes, bytes]] = []
        if admission is not None:
            extra = [
                (b"ratelimit-policy", admission.policy.encode()),
                (b"ratelimit", admission.state().encode()),
            ]
            if not admission.admitted:
                retry = str(admission.retry_after).encode()
                size = await _problem(
                    scope,
                    send,
                    429,
                    f"key {record.prefix} is over its limit; retry in {admission.retry_after} s",
                    [*extra, (b"retry-after", retry)],
                )
                service.meter.count(record.id, self._template(scope), 429, None, size)
                return
        scope[SCOPE_KEY] = record
        status, tier, size = 500, None, 0

        async def metered_send(message: Message) -> None:
            nonlocal status, tier, size
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                for name, value in headers:
                    if name == b"server-timing":
                        tier = value.split(b";", 1)[0].decode("latin-1")
                if extra:
                    message["headers"] = [*headers, *extra]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, metered_send)
        finally:
            service.meter.count(record.id, self._template(scope), status, tier, size)


def _admin(path: str) -> bool:
    return path.startswith(ADMIN)


class _Templates:
    """Route templates for requests refused before routing (the router has not named their
    route yet): matched against the OpenAPI paths, compiled once on first use."""

    def __init__(self) -> None:
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def prepare(self, app: object) -> None:
        if self._patterns is not None:
            return
        openapi = getattr(app, "openapi", None)
        paths = openapi().get("paths", {}) if callable(openapi) else {}
        # Fixed paths before templated ones, as the router's own order would have it.
        ordered = sorted(paths, key=lambda p: "{" in p)
        self._patterns = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$"), p)
            for p in ordered
        ]

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return str(getattr(route, "path", "unmatched"))
        self.prepare(scope.get("app"))
        assert self._patterns is not None
        path = scope.get("path", "")
        return next((t for pattern, t in self._patterns if pattern.match(path)), "unmatched")


async def _refuse(scope: Scope, send: Send, refusal: Refusal) -> None:
    status, detail = _DETAIL[refusal]
    headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
    await _problem(scope, send, status, detail, headers)


async def _problem(
    scope: Scope, send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]
) -> int:
    if scope["type"] == "websocket":
        # Refused before the handshake: the server answers the upgrade with 403.
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return 0
    body = orjson.dumps(
        {
            "type": f"https://marketsvc.dev/problems/{status}",
            "title": _TITLE[status],
            "status": status,
            "detail": detail,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return len(body)


# The fast path's verdict (api/fast_path.py ``Admit``): no, yes, or yes-and-meter.
FastAdmit = bool | Callable[[str, str, int], None]


def fast_path_admission(required: bool) -> Callable[[Scope], FastAdmit]:
    """The fast path's ``allow`` hook: a keyless request when keys are not required may be
    answered there; so may one whose key is valid, in memory and has no limits (its usage is
    metered as on the normal route). Anything else — an unknown, refused or limited key, a
    missing one when keys are required — goes the normal way, where it is checked in full."""

    def admit(scope: Scope) -> FastAdmit:
        presented = presented_key(scope)
        if presented is None:
            return not required
        service = keys_of(scope)
        if service is None:
            return False
        record = service.accepted_in_memory(presented, KeyScope.READ)
        if record is None:
            return False
        return service.meter.counter_for(record.id)

    return admit
