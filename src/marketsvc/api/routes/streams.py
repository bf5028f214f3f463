"""Live data for clients: ``/api/market/ws`` (WebSocket), ``/api/market/stream`` (SSE) and
``/api/market/orderbook/{symbol}``. The protocol lives in marketsvc.streams; this is HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, WebSocket, WebSocketDisconnect
from sse_starlette import EventSourceResponse

from marketsvc.api.deps import ContainerDep
from marketsvc.api.schemas import PROBLEM_RESPONSES, SYMBOL_RE
from marketsvc.container import Container
from marketsvc.domain import AssetClass
from marketsvc.errors import InvalidInputError, MarketsvcError
from marketsvc.streams import CHANNELS, StreamHub, Subscriber
from marketsvc.streams.books import BookKeeper, shape
from marketsvc.symbols import resolve

router = APIRouter(prefix="/api/market", tags=["live data"])


def _hub(container: Container) -> StreamHub:
    if container.streams is None:
        raise MarketsvcError("streams are disabled (STREAMS_ENABLED=false)")
    return container.streams


class _Limits:
    """Per-connection limits: symbols held and messages per second (token bucket)."""

    def __init__(self, max_symbols: int, rate: float) -> None:
        self.max_symbols = max_symbols
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()
        self.refusals = 0

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.refusals += 1
        return False


def _error(detail: str) -> bytes:
    return orjson.dumps({"type": "error", "detail": detail})


@router.websocket("/ws")
async def market_ws(ws: WebSocket) -> None:
    container: Container = ws.state.container
    settings = container.settings
    hub = container.streams
    if hub is None:
        await ws.close(1013, "streams are disabled")
        return
    ip = ws.client.host if ws.client else "?"
    if hub.ip_clients.get(ip, 0) >= settings.stream_max_clients_per_ip:
        await ws.close(1013, "too many connections from this address")
        return
    await ws.accept()
    sub = Subscriber(max_lag=settings.stream_max_lag_seconds)
    limits = _Limits(settings.stream_max_symbols, settings.stream_client_messages_per_second)
    hub.client_joined(ip)
    tasks = [
        asyncio.create_task(_ws_writer(ws, sub)),
        asyncio.create_task(_heartbeat(sub, hub, settings.stream_heartbeat_seconds)),
    ]
    try:
        while True:
            raw = await ws.receive_text()
            if not limits.allow():
                if limits.refusals > 5 * limits.rate:
                    await ws.close(1008, "too many messages")
                    return
                sub.offer(
                    "_error",
                    (
                        hub.fanout.next_id(),
                        "error",
                        _error("rate limit: too many messages per second"),
                    ),
                    conflate=False,
                )
                continue
            await _handle(raw, sub, hub, limits)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        hub.leave(sub)
        hub.client_left(ip)


async def _handle(raw: str, sub: Subscriber, hub: StreamHub, limits: _Limits) -> None:
    def refuse(detail: str) -> None:
        sub.offer("_error", (hub.fanout.next_id(), "error", _error(detail)), conflate=False)

    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        refuse("messages are JSON objects")
        return
    if not isinstance(msg, dict):
        refuse("messages are JSON objects")
        return
    op, channel = msg.get("op"), msg.get("channel", "ticker")
    symbols = msg.get("symbols")
    if op not in ("subscribe", "unsubscribe") or channel not in CHANNELS:
        refuse(f"op is subscribe|unsubscribe, channel one of {'|'.join(CHANNELS)}")
        return
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        refuse("symbols is a list of strings")
        return
    try:
        for s in symbols:
            resolve(s)
    except MarketsvcError as exc:
        refuse(str(exc))
        return
    if op == "unsubscribe":
        hub.unsubscribe(sub, channel, symbols)
        return
    if len(sub.topics) + len(symbols) > limits.max_symbols:
        refuse(f"symbol limit: at most {limits.max_symbols} per connection")
        return
    await hub.subscribe(sub, channel, symbols)


async def _ws_writer(ws: WebSocket, sub: Subscriber) -> None:
    while True:
        items = await sub.take()
        if sub.dropped is not None:
            await ws.close(1008, sub.dropped[:120])
            return
        for _, _, body in items:
            await ws.send_text(body.decode())


async def _heartbeat(sub: Subscriber, hub: StreamHub, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        body = orjson.dumps({"type": "heartbeat", "ts": time.time()})
        sub.offer("_heartbeat", (hub.fanout.next_id(), "heartbeat", body))


@router.get(
    "/stream",
    summary="Server-Sent Events: snapshot then ticks per symbol; Last-Event-ID resumes",
    response_class=EventSourceResponse,
    responses=PROBLEM_RESPONSES,
)
async def market_stream(
    request: Request,
    container: ContainerDep,
    symbols: Annotated[str, Query(description="comma-separated, e.g. BTC,AAPL")],
    channel: Annotated[str, Query(pattern="^(ticker|trades)$")] = "ticker",
) -> EventSourceResponse:
    hub = _hub(container)
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    if not names or len(names) > container.settings.stream_max_symbols:
        raise InvalidInputError(
            f"symbols: 1..{container.settings.stream_max_symbols} comma-separated symbols"
        )
    for name in names:
        resolve(name)
    last_id = request.headers.get("last-event-id")
    sub = Subscriber(max_lag=container.settings.stream_max_lag_seconds)

    async def events() -> AsyncIterator[dict[str, Any]]:
        ip = request.client.host if request.client else "?"
        hub.client_joined(ip)
        try:
            replayed = None
            if last_id is not None and last_id.isdigit():
                topics = {f"{channel}:{_topic_key(n)}" for n in names}
                for topic in topics:
                    hub.fanout.add(sub, topic)
                replayed = hub.fanout.replay(int(last_id), topics)
            if replayed is None:
                await hub.subscribe(sub, channel, names)
            else:
                hub.refresh_routes()
                for ident, kind, body in replayed:
                    yield {"event": kind, "id": str(ident), "data": body.decode()}
            while True:
                items = await sub.take()
                if sub.dropped is not None:
                    yield {"event": "error", "data": _error(sub.dropped).decode()}
                    return
                for ident, kind, body in items:
                    yield {"event": kind, "id": str(ident), "data": body.decode()}
        finally:
            hub.leave(sub)
            hub.client_left(ip)

    return EventSourceResponse(
        events(), ping=int(container.settings.stream_heartbeat_seconds), send_timeout=30
    )


def _topic_key(raw: str) -> str:
    inst = resolve(raw)
    return f"{inst.asset_class.value}:{inst.symbol}"


@router.get(
    "/orderbook/{symbol}",
    summary="Order book: top levels, spread, mid, update id, age",
    responses=PROBLEM_RESPONSES,
)
async def orderbook(
    container: ContainerDep,
    symbol: Annotated[str, Path(pattern=SYMBOL_RE, description="a crypto symbol, e.g. BTC")],
    depth: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    inst = resolve(symbol, AssetClass.CRYPTO)
    hub = container.streams
    if hub is not None:
        hub.want_book(inst.symbol)
        view = hub.books.view(inst.symbol, depth)
        if view is not None:
            return {"symbol": inst.symbol, **view}
    keeper = hub.books if hub is not None else BookKeeper(container.orchestrator)
    limit = 100 if depth <= 100 else 1000
    snap = await keeper.fetch(inst.symbol, limit)
    bids = [(float(p), float(q)) for p, q in snap["bids"]][:depth]
    asks = [(float(p), float(q)) for p, q in snap["asks"]][:depth]
    return {
        "symbol": inst.symbol,
        **shape(bids, asks, int(snap["lastUpdateId"]), time.time(), "binance", stream=False),
    }
