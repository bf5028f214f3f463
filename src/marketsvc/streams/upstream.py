"""One upstream stream connection, kept alive: connect, (auth,) subscribe what is wanted,
read and parse frames, reconnect with full-jitter backoff, resubscribe everything.

Silence (no frame for ``silence`` seconds while something is subscribed) counts as a dead
connection. Protocol-level pings are answered by the ``websockets`` library (Binance pings
every 20 s and wants a pong within a minute); connections are recycled before Binance's 24 h
cut. The connect URL can carry a token (Finnhub): it is never logged, and errors are described
by their kind only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from marketsvc.domain import AssetClass
from marketsvc.streams.events import Event, StreamAuthError, StreamProtocolError

log = logging.getLogger(__name__)

MAX_AGE = 23 * 3600.0  # Binance cuts connections at 24 h: leave on our own terms first


class StreamProtocol(Protocol):
    provider: str
    cap: int
    msg_interval: float
    url_max: int

    def channel(self, symbol: str, asset_class: AssetClass, kind: str) -> str | None: ...
    def connect_url(self, channels: Sequence[str]) -> str: ...
    def open_messages(self) -> list[str]: ...
    def subscribe(self, channels: Sequence[str], on: bool) -> list[str]: ...
    def parse(self, text: str | bytes) -> list[Event]: ...


class SilenceError(Exception):
    pass


@dataclass(slots=True)
class StreamStatus:
    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    messages: int = 0
    malformed: int = 0
    last_error: str | None = None
    last_message_at: float = 0.0
    last_event_ts: float = 0.0  # the provider's own time of the last tick
    rate: float = 0.0  # messages per second, smoothed
    _window: list[float] = field(default_factory=lambda: [0.0, 0.0])  # [start, count]


def describe(exc: BaseException) -> str:
    """An error in words that can never contain the URL (and so never the token)."""
    if isinstance(exc, InvalidStatus):
        return f"handshake refused: HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        return f"closed by peer: {rcvd.code} {rcvd.reason}"[:200] if rcvd else "connection lost"
    if isinstance(exc, StreamProtocolError | StreamAuthError):
        return str(exc)[:200]
    if isinstance(exc, SilenceError):
        return "silent: no message in time"
    if isinstance(exc, socket.gaierror):
        return "DNS lookup failed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return "network error"
    return "unexpected error"


class UpstreamStream:
    def __init__(
        self,
        name: str,
        proto: StreamProtocol,
        on_events: Callable[[list[Event]], None],
        on_down: Callable[[UpstreamStream], None],
        *,
        silence: float = 15.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.proto = proto
        self.provider = proto.provider
        self._on_events = on_events
        self._on_down = on_down
        self.silence = silence
        self._backoff = (backoff_base, backoff_cap)
        self._clock = clock
        self.wanted: set[str] = set()
        self.subscribed: set[str] = set()
        self.status = StreamStatus()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- what to subscribe -----------------------------------------------------------------

    def set_wanted(self, channels: set[str]) -> None:
        if channels != self.wanted:
            self.wanted = set(channels)
            self._changed.set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"stream:{self.name}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        attempt = 0
        while True:
            if not self.wanted:
                self._changed.clear()
                await self._changed.wait()
            started = self._clock()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure ends in a reconnect, described safely
                reason = describe(exc)
                # Once per change of state (up -> down, or a new reason), not once per retry.
                level = logging.DEBUG if reason == self.status.last_error else logging.WARNING
                self.status.last_error = reason
                log.log(level, "stream %s down: %s", self.name, reason)
            if self.status.connected or self.subscribed:
                self.status.connected = False
                self.subscribed = set()
                self._on_down(self)
            if self._clock() - started > 10.0:
                attempt = 0  # a connection that lived is not a failure streak
            # Full jitter (AWS architecture blog): spread reconnecting clients evenly.
            base, cap = self._backoff
            await asyncio.sleep(random.uniform(0, min(cap, base * 2**attempt)))
            attempt += 1
            self.status.reconnects += 1

    async def _session(self) -> None:
        initial = sorted(self.wanted)[: self.proto.url_max]
        async with connect(
            self.proto.connect_url(initial),
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            max_size=2**22,
            close_timeout=2,
        ) as ws:
            self.status.connected = True
            self.status.connects += 1
            self.subscribed = set(initial)
            for message in self.proto.open_messages():
                await ws.send(message)
            sync = asyncio.create_task(self._sync(ws))
            try:
                await self._read(ws, self._clock())
            finally:
                sync.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sync

    async def _sync(self, ws: ClientConnection) -> None:
        """Bring the connection's subscriptions to ``wanted``, paced by the provider's
        control-message rate (Binance: 5 per second per connection, pongs included)."""
        while True:
            add = sorted(self.wanted - self.subscribed)
            room = self.proto.cap - len(self.subscribed)
            add = add[: max(room, 0)]
            drop = sorted(self.subscribed - self.wanted)
            for on, chans in ((False, drop), (True, add)):
                if not chans:
                    continue
                for message in self.proto.subscribe(chans, on):
                    await ws.send(message)
                    await asyncio.sleep(self.proto.msg_interval)
                if on:
                    self.subscribed.update(chans)
                else:
                    self.subscribed.difference_update(chans)
            self._changed.clear()
            if self.wanted - self.subscribed and len(self.subscribed) < self.proto.cap:
                continue
            await self._changed.wait()

    async def _read(self, ws: ClientConnection, opened: float) -> None:
        while True:
            timeout = self.silence if self.subscribed else None
            try:
                text = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                raise SilenceError from None
            now = self._clock()
            st = self.status
            st.messages += 1
            st.last_message_at = now
            window = st._window
            if now - window[0] >= 1.0:
                st.rate = window[1] / max(now - window[0], 1e-9) if window[0] else 0.0
                window[0], window[1] = now, 0.0
            window[1] += 1
            try:
                events = self.proto.parse(text)
            except StreamProtocolError as exc:
                # One bad frame is counted and skipped; the connection itself is fine.
                st.malformed += 1
                st.last_error = describe(exc)
                continue
            if events:
                st.last_event_ts = max(getattr(e, "ts", 0.0) for e in events)
                self._on_events(events)
            if now - opened > MAX_AGE:
                return

    def snapshot(self) -> dict[str, Any]:
        st = self.status
        now = self._clock()
        return {
            "provider": self.provider,
            "connected": st.connected,
            "subscribed": len(self.subscribed),
            "wanted": len(self.wanted),
            "messages": st.messages,
            "messages_per_second": round(st.rate, 2),
            "lag_seconds": round(now - st.last_event_ts, 3) if st.last_event_ts else None,
            "reconnects": st.reconnects,
            "malformed": st.malformed,
            "last_error": st.last_error,
        }
