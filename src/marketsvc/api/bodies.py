"""Request bodies checked once at the edge, before any route reads them (pure ASGI).

A body-carrying request gets, in this order: 415 unless it is JSON (`application/json` or
`+json`), 413 when it is larger than the limit (declared or streamed, chunked included), 422
when it is not UTF-8 JSON, nests deeper than ``MAX_DEPTH`` or holds a number no float can
hold. The buffered body (at most the limit, 64 KiB) is then replayed to the app, so every
route sees the same bytes and FastAPI's own parser only ever meets JSON that is sane.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_DEPTH = 32
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestBodyMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _problem(send, 413, "Payload too large", self._too_large())
            return
        body, too_large = await self._read(receive)
        if too_large:
            await _problem(send, 413, "Payload too large", self._too_large())
            return
        if body:
            media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if media != b"application/json" and not media.endswith(b"+json"):
                shown = media.decode("latin-1")[:60] or "none"
                await _problem(
                    send,
                    415,
                    "Unsupported media type",
                    f"request bodies must be JSON (content-type: application/json), not {shown}",
                )
                return
            error = check_json(body)
            if error is not None:
                await _problem(send, 422, "Invalid input", error, slug="invalid-input")
                return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"", False  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False


def check_json(body: bytes) -> str | None:
    """Why ``body`` is not acceptable JSON, in words for the client; None when it is."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "request body is not valid UTF-8"
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "infinity" in exc.msg:
            return "request body holds a number too large to represent"
        return f"request body is not valid JSON: {exc.msg}"
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return f"request body nests deeper than {MAX_DEPTH} levels"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, float) and item in (float("inf"), float("-inf")):
            return "request body holds a number too large to represent"
    return None


def _replay(body: bytes, upstream: Receive) -> Receive:
    """The buffered body once, then the real channel (which reports a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()

    return receive


async def _problem(send: Send, status: int, title: str, detail: str, slug: str = "") -> None:
    body = orjson.dumps(
        {
            "type": f"https://marketsvc.dev/problems/{slug or status}",
            "title": title,
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
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
