"""The stream emulator in-process (``SANDBOX=true``): a ``websockets`` server on 127.0.0.1 with
an ephemeral port.

Why a loopback socket rather than an in-memory transport: the REST adapters reach the emulator
through ``httpx.ASGITransport``, but the ``websockets`` client has no ASGI transport, and an
in-memory stand-in would skip exactly what the stream clients must get right (framing, close
codes, pings, reconnects). A loopback server gives the in-process mode the same code path as
production at the cost of one listening port that only 127.0.0.1 can reach. It serves the
same :class:`StreamEmulator` (and so the same order books) as the in-process REST emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from marketsvc.sandbox.streams import ChannelClosedError, StreamEmulator


class _WebsocketsChannel:
    def __init__(self, conn: ServerConnection) -> None:
        self.conn = conn

    async def send(self, text: str) -> None:
        try:
            await self.conn.send(text)
        except ConnectionClosed as exc:
            raise ChannelClosedError from exc

    async def recv(self) -> str:
        try:
            data = await self.conn.recv()
        except ConnectionClosed as exc:
            raise ChannelClosedError from exc
        return data if isinstance(data, str) else data.decode()

    async def close(self, code: int, reason: str) -> None:
        await self.conn.close(code, reason)


@asynccontextmanager
async def loopback_streams(emulator: StreamEmulator) -> AsyncIterator[str]:
    """Serve ``emulator`` on 127.0.0.1; yields the emulator root (``http://127.0.0.1:P``)."""

    async def handler(conn: ServerConnection) -> None:
        target = urlsplit(conn.request.path if conn.request else "/")
        await emulator.serve(target.path, dict(parse_qsl(target.query)), _WebsocketsChannel(conn))

    async with serve(handler, "127.0.0.1", 0, ping_interval=20) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"
