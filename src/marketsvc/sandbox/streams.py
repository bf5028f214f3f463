"""The emulator's provider streams: Binance combined/raw streams, Finnhub trades and Massive
(Polygon) trades at their real paths and wire formats, with seeded synthetic ticks and faults.

Paths on the emulator (each stands in for the vendor's stream host):
``/binance/stream?streams=a/b`` and ``/binance/ws/<name>``; ``/finnhub/ws?token=K``;
``/polygon/stocks`` and ``/polygon/crypto``. Control: ``POST /_control/streams`` with
``{"provider", "kind": drop|stall|malformed|gap|cap, "seconds"?, "count"?, "value"?}`` and
``GET /_control/streams`` (connections, subscriptions, frames, faults).

The session logic is transport-free (:class:`Channel`): Starlette's WebSocket serves it on a
port (``marketsvc sandbox``), and ``loopback.py`` serves it in-process with the ``websockets``
library for ``SANDBOX=true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from marketsvc.sandbox._book import LEVELS, BookFeed, SyntheticBook, tick_size
from marketsvc.sandbox._framework import SandboxState
from marketsvc.sandbox._stream_frames import (
    base_of_pair,
    binance_depth,
    binance_ticker,
    binance_trade,
    finnhub_trades,
    massive_trade,
    tick_index,
)
from marketsvc.sandbox._synth import price_at

LOOP_INTERVAL = 0.05
DEFAULT_CAPS = {"binance": 1024, "finnhub": 50, "polygon": 1000}
BINANCE_MSG_RATE = 5  # incoming messages per second per connection, as Binance enforces
FINNHUB_PING_EVERY = 10.0
MALFORMED = '{"truncated": [1, 2'


class ChannelClosedError(Exception):
    """The peer went away."""


class Channel(Protocol):
    async def send(self, text: str) -> None: ...
    async def recv(self) -> str: ...
    async def close(self, code: int, reason: str) -> None: ...


@dataclass(slots=True)
class ProviderStreamState:
    cap: int
    stalled_until: float = 0.0
    malformed: int = 0
    gaps: int = 0
    connects: int = 0
    frames: int = 0
    refused: int = 0
    sessions: set[Session] = field(default_factory=set)


@dataclass(eq=False, slots=True)
class Session:
    provider: str
    variant: str  # binance: combined|raw; polygon: stocks|crypto
    channel: Channel
    subs: set[str] = field(default_factory=set)
    authed: bool = False
    last_k: int = -1
    depth_pos: dict[str, int] = field(default_factory=dict)
    incoming: deque[float] = field(default_factory=deque)
    closed: bool = False


class StreamEmulator:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.providers = {p: ProviderStreamState(cap) for p, cap in DEFAULT_CAPS.items()}
        self.books: dict[str, BookFeed] = {}
        self.steps: dict[str, float] = {}

    # -- books (shared with the REST depth endpoint) ----------------------------------------

    def book(self, pair: str) -> tuple[BookFeed, float]:
        pair = pair.upper()
        feed = self.books.get(pair)
        if feed is None:
            now = self.state.now()
            step = tick_size(price_at(base_of_pair(pair), now))
            self.steps[pair] = step
            centre = round(price_at(base_of_pair(pair), now) / step)
            feed = self.books[pair] = BookFeed(SyntheticBook(pair, centre), self.state.now())
        feed.advance_to(self.state.now())
        return feed, self.steps[pair]

    def depth_snapshot(self, pair: str, limit: int) -> dict[str, Any]:
        feed, step = self.book(pair)
        last_id, bids, asks = feed.book.snapshot(limit)
        return {
            "lastUpdateId": last_id,
            "bids": [[f"{p * step:.8f}", f"{q * 0.001:.8f}"] for p, q in bids],
            "asks": [[f"{p * step:.8f}", f"{q * 0.001:.8f}"] for p, q in asks],
        }

    # -- control -------------------------------------------------------------------------------

    async def apply_fault(self, provider: str, kind: str, body: dict[str, Any]) -> None:
        st = self.providers[provider]
        if kind == "drop":
            for sess in list(st.sessions):
                await self._close(sess, 1011, "synthetic drop")
        elif kind == "stall":
            st.stalled_until = self.state.now() + float(body.get("seconds", 30.0))
        elif kind == "malformed":
            st.malformed += int(body.get("count", 1))
        elif kind == "gap":
            st.gaps += int(body.get("count", 1))
        elif kind == "cap":
            st.cap = int(body.get("value", DEFAULT_CAPS[provider]))
        else:
            raise ValueError(kind)

    def stats(self) -> dict[str, Any]:
        return {
            name: {
                "connections": len(st.sessions),
                "connects": st.connects,
                "subscriptions": sorted({s for sess in st.sessions for s in sess.subs}),
                "frames": st.frames,
                "refused": st.refused,
                "cap": st.cap,
                "stalled_for": max(0.0, st.stalled_until - self.state.now()),
            }
            for name, st in self.providers.items()
        }

    # -- sessions ------------------------------------------------------------------------------

    async def serve(self, path: str, query: dict[str, str], channel: Channel) -> None:
        """Serve one stream connection at ``path`` until either side closes it."""
        target = route(path)
        if target is None:
            await channel.close(1008, "no such stream")
            return
        provider, variant = target
        sess = Session(provider, variant, channel)
        st = self.providers[provider]
        if provider == "finnhub" and not query.get("token"):
            await channel.close(1008, "token required")
            return
        if provider == "binance":
            names = path.rsplit("/", 1)[1] if variant == "raw" else query.get("streams", "")
            sess.subs.update(n for n in names.split("/") if n)
            for name in sess.subs:
                self._start_depth(sess, name)
        st.connects += 1
        st.sessions.add(sess)
        if provider == "polygon":
            await self._send(
                sess, [{"ev": "status", "status": "connected", "message": "Connected Successfully"}]
            )
        reader = asyncio.create_task(self._read(sess))
        try:
            await self._write(sess, reader)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ChannelClosedError):
                await reader
            st.sessions.discard(sess)
            sess.closed = True

    async def _write(self, sess: Session, reader: asyncio.Task[None]) -> None:
        st = self.providers[sess.provider]
        last_ping = time.monotonic()
        while not reader.done() and not sess.closed:
            await asyncio.sleep(LOOP_INTERVAL)
            now = self.state.now()
            if now < st.stalled_until:
                continue
            try:
                await self._emit(sess, now)
                if sess.provider == "finnhub" and time.monotonic() - last_ping > FINNHUB_PING_EVERY:
                    last_ping = time.monotonic()
                    await self._send(sess, {"type": "ping"})
            except ChannelClosedError:
                return

    async def _emit(self, sess: Session, now: float) -> None:
        k = tick_index(now)
        new_tick = k != sess.last_k
        sess.last_k = k
        subs = sorted(sess.subs)
        if sess.provider == "binance":
            for name in subs:
                pair, _, kind = name.partition("@")
                if kind == "ticker" and new_tick:
                    await self._binance(sess, name, binance_ticker(pair, k))
                elif kind in ("trade", "aggTrade") and new_tick:
                    await self._binance(sess, name, binance_trade(pair, k))
                elif kind.startswith("depth"):
                    await self._depth(sess, name, pair)
        elif not new_tick or not subs:
            return
        elif sess.provider == "finnhub":
            await self._send(sess, finnhub_trades(subs, k))
        elif sess.authed:
            await self._send(sess, [massive_trade(ch, k) for ch in subs])

    async def _depth(self, sess: Session, name: str, pair: str) -> None:
        st = self.providers["binance"]
        feed, step = self.book(pair)
        for diff in feed.since(sess.depth_pos.get(name, 0)):
            sess.depth_pos[name] = diff.last_id
            if st.gaps > 0:
                st.gaps -= 1  # a lost diff: the client must notice U != u + 1 and resync
                continue
            await self._binance(sess, name, binance_depth(pair, diff, step))

    def _start_depth(self, sess: Session, name: str) -> None:
        pair, _, kind = name.partition("@")
        if kind.startswith("depth"):
            feed, _ = self.book(pair)
            sess.depth_pos[name] = feed.book.last_update_id

    async def _binance(self, sess: Session, name: str, event: dict[str, Any]) -> None:
        await self._send(sess, event if sess.variant == "raw" else {"stream": name, "data": event})

    async def _send(self, sess: Session, message: Any) -> None:
        st = self.providers[sess.provider]
        text = orjson.dumps(message).decode()
        if st.malformed > 0:
            st.malformed -= 1
            text = MALFORMED
        st.frames += 1
        await sess.channel.send(text)

    async def _close(self, sess: Session, code: int, reason: str) -> None:
        sess.closed = True
        with contextlib.suppress(Exception):
            await sess.channel.close(code, reason)

    # -- incoming messages ---------------------------------------------------------------------

    async def _read(self, sess: Session) -> None:
        while not sess.closed:
            raw = await sess.channel.recv()
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                msg = None
            if sess.provider == "binance":
                await self._binance_message(sess, msg)
            elif sess.provider == "finnhub":
                await self._finnhub_message(sess, msg)
            else:
                await self._massive_message(sess, msg)

    async def _binance_message(self, sess: Session, msg: Any) -> None:
        now = time.monotonic()
        sess.incoming.append(now)
        while sess.incoming and sess.incoming[0] < now - 1.0:
            sess.incoming.popleft()
        if len(sess.incoming) > BINANCE_MSG_RATE:
            await self._close(sess, 1008, "Too many requests")
            return
        if not isinstance(msg, dict) or "method" not in msg:
            await self._send(sess, {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        method, params, ident = msg.get("method"), msg.get("params") or [], msg.get("id")
        st = self.providers["binance"]
        if method == "SUBSCRIBE":
            fresh = [p for p in params if p not in sess.subs]
            if len(sess.subs) + len(fresh) > st.cap:
                st.refused += 1
                await self._send(
                    sess, {"error": {"code": 2, "msg": "Too many streams"}, "id": ident}
                )
                return
            for name in fresh:
                sess.subs.add(name)
                self._start_depth(sess, name)
            await self._send(sess, {"result": None, "id": ident})
        elif method == "UNSUBSCRIBE":
            sess.subs.difference_update(params)
            await self._send(sess, {"result": None, "id": ident})
        elif method == "LIST_SUBSCRIPTIONS":
            await self._send(sess, {"result": sorted(sess.subs), "id": ident})
        else:
            await self._send(sess, {"error": {"code": 2, "msg": "Invalid request"}, "id": ident})

    async def _finnhub_message(self, sess: Session, msg: Any) -> None:
        if not isinstance(msg, dict) or not isinstance(msg.get("symbol"), str):
            await self._send(sess, {"type": "error", "msg": "Invalid message"})
            return
        symbol = msg["symbol"]
        if msg.get("type") == "subscribe":
            st = self.providers["finnhub"]
            if symbol not in sess.subs and len(sess.subs) >= st.cap:
                st.refused += 1
                await self._send(sess, {"type": "error", "msg": "Subscribing to too many symbols"})
                return
            sess.subs.add(symbol)
        elif msg.get("type") == "unsubscribe":
            sess.subs.discard(symbol)

    async def _massive_message(self, sess: Session, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        action, params = msg.get("action"), str(msg.get("params", ""))
        if action == "auth":
            sess.authed = bool(params)
            status = (
                ("auth_success", "authenticated")
                if sess.authed
                else ("auth_failed", "authentication failed")
            )
            await self._send(sess, [{"ev": "status", "status": status[0], "message": status[1]}])
            return
        if not sess.authed:
            await self._send(
                sess, [{"ev": "status", "status": "error", "message": "not authorized"}]
            )
            return
        prefix = "XT." if sess.variant == "crypto" else "T."
        channels = [c.strip() for c in params.split(",") if c.strip()]
        acks = []
        st = self.providers["polygon"]
        for ch in channels:
            if action == "subscribe":
                if not ch.startswith(prefix):
                    acks.append(
                        {"ev": "status", "status": "error", "message": f"unknown channel: {ch}"}
                    )
                    continue
                if ch not in sess.subs and len(sess.subs) >= st.cap:
                    st.refused += 1
                    acks.append(
                        {
                            "ev": "status",
                            "status": "error",
                            "message": f"subscription limit reached: {ch}",
                        }
                    )
                    continue
                sess.subs.add(ch)
                acks.append(
                    {"ev": "status", "status": "success", "message": f"subscribed to: {ch}"}
                )
            elif action == "unsubscribe":
                sess.subs.discard(ch)
                acks.append(
                    {"ev": "status", "status": "success", "message": f"unsubscribed to: {ch}"}
                )
        if acks:
            await self._send(sess, acks)


def route(path: str) -> tuple[str, str] | None:
    """The (provider, variant) a stream path belongs to, or None."""
    path = path.rstrip("/")
    if path == "/binance/stream":
        return "binance", "combined"
    if path.startswith("/binance/ws/") and len(path) > len("/binance/ws/"):
        return "binance", "raw"
    if path == "/finnhub/ws":
        return "finnhub", "trades"
    if path in ("/polygon/stocks", "/polygon/crypto"):
        return "polygon", path.rsplit("/", 1)[1]
    return None


def sandbox_ws_url(root: str, provider: str) -> str:
    """The stream base that stands in for ``provider``'s ``<P>_WS_URL`` on an emulator at
    ``root`` (``http://host:port`` → ``ws://host:port/<provider>``)."""
    base = root.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
    return f"{base}/finnhub/ws" if provider == "finnhub" else f"{base}/{provider}"


__all__ = ["LEVELS", "Channel", "ChannelClosedError", "StreamEmulator", "route", "sandbox_ws_url"]
