"""The stream emulator's two front doors: Starlette WebSocket routes (the emulator served on a
port) and the ``/_control/streams`` fault and statistics endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from marketsvc.sandbox.streams import ChannelClosedError, StreamEmulator

STREAM_FAULTS = frozenset({"drop", "stall", "malformed", "gap", "cap"})


class StarletteChannel:
    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def send(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise ChannelClosedError from exc

    async def recv(self) -> str:
        try:
            return await self.ws.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError) as exc:
            raise ChannelClosedError from exc

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)


def stream_routes(emulator: StreamEmulator) -> list[Route | WebSocketRoute]:
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        await emulator.serve(ws.url.path, dict(ws.query_params), StarletteChannel(ws))

    async def control(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(emulator.stats())
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "JSON object expected"}, status_code=400)
        provider, kind = body.get("provider"), body.get("kind")
        if provider not in emulator.providers or kind not in STREAM_FAULTS:
            return JSONResponse(
                {
                    "error": f"provider one of {sorted(emulator.providers)}, "
                    f"kind one of {sorted(STREAM_FAULTS)}"
                },
                status_code=400,
            )
        await emulator.apply_fault(provider, kind, body)
        return JSONResponse({"ok": True})

    paths = [
        "/binance/stream",
        "/binance/ws/{name}",
        "/finnhub/ws",
        "/polygon/stocks",
        "/polygon/crypto",
    ]
    routes: list[Route | WebSocketRoute] = [WebSocketRoute(p, endpoint) for p in paths]
    routes.append(Route("/_control/streams", control, methods=["GET", "POST"]))
    return routes
