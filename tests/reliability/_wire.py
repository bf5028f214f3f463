"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for load.

httpx spends milliseconds per request in its pool when 100 requests are in flight on a 2-core
machine, which smears a burst over a second and hides the server's own latency. This client
costs tens of microseconds per request: one connection per concurrent request, reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class WireError(Exception):
    """No HTTP answer (connection refused, reset, or closed mid-response)."""


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class WireClient:
    def __init__(self, root: str, timeout: float = 30.0) -> None:
        parts = urlsplit(root)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._idle: list[_Conn] = []

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def request(
        self, method: str, path: str, json: object = None, headers: dict[str, str] | None = None
    ) -> WireResponse:
        body = b"" if json is None else orjson.dumps(json)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if json is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        # A pooled connection the server closed meanwhile fails on first use: retry once on
        # a fresh one (the request never reached the server's application).
        for attempt in (0, 1):
            reused = bool(self._idle) and attempt == 0
            conn = self._idle.pop() if reused else await self._connect()
            try:
                async with asyncio.timeout(self.timeout):
                    resp, keep = await self._exchange(conn, raw)
            except (OSError, asyncio.IncompleteReadError, WireError) as exc:
                conn[1].close()
                if reused and isinstance(exc, asyncio.IncompleteReadError) and not exc.partial:
                    continue
                raise WireError(type(exc).__name__) from exc
            except BaseException:
                conn[1].close()
                raise
            if keep:
                self._idle.append(conn)
            else:
                conn[1].close()
            return resp
        raise WireError("unreachable")

    async def _connect(self) -> _Conn:
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise WireError(type(exc).__name__) from exc

    @staticmethod
    async def _exchange(conn: _Conn, raw: bytes) -> tuple[WireResponse, bool]:
        reader, writer = conn
        writer.write(raw)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise WireError(f"bad status line {status_line!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        keep = headers.get("connection", "").lower() != "close"
        return WireResponse(int(parts[1]), headers, body), keep
