"""StreamHub: provider streams into the cache and out to this process's clients.

Which symbols are streamed: the watchlists plus whatever clients subscribe to, each routed to
the first stream (in preference order) that can carry it and has room under its cap; the rest
stay on REST. A tick writes the price entry to every tier but the durable one (L1, and L2 so
other replicas' REST answers see it) with ``source=<provider>`` and ``fetched_at`` = the tick's
own time, so a REST price request for a streamed symbol is a cache hit (no upstream call).
When a stream goes down its symbols lose their "live" mark and their entries are expired at
once: REST answers (and the jobs) go upstream again, and subscribed clients are fed by the
LOW-priority poller with honest freshness until the stream is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from marketsvc.cache.base import CacheEntry, CacheKey
from marketsvc.cache.policy import CachePolicy
from marketsvc.cache.tiered import TieredCache
from marketsvc.domain import AssetClass, DataType, Freshness, Priority, iso_z
from marketsvc.errors import MarketsvcError
from marketsvc.orchestrator import DataOrchestrator
from marketsvc.orchestrator.freshness import judge
from marketsvc.streams.anomaly_watch import AnomalyWatch
from marketsvc.streams.books import BookKeeper
from marketsvc.streams.events import DepthDiff, Event, Tick, symbol_key
from marketsvc.streams.fanout import Fanout, Subscriber
from marketsvc.streams.upstream import UpstreamStream
from marketsvc.symbols import resolve

log = logging.getLogger(__name__)

CHANNELS = ("ticker", "trades", "book")
ANOMALY_INTERVAL = 60.0  # seconds between anomaly checks of the followed symbols
FLUSH_INTERVAL = 0.2


def split_key(key: str) -> tuple[AssetClass, str]:
    asset, _, symbol = key.partition(":")
    return AssetClass(asset), symbol


class StreamHub:
    def __init__(
        self,
        orchestrator: DataOrchestrator,
        cache: TieredCache,
        policy: CachePolicy,
        *,
        watchlist: Sequence[str] = (),
        sandbox: bool = False,
        poll_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.orch = orchestrator
        self.cache = cache
        self.policy = policy
        self.sandbox = sandbox
        self.poll_interval = poll_interval
        self._clock = clock
        self.streams: list[UpstreamStream] = []
        self.fanout = Fanout()
        self.books = BookKeeper(orchestrator)
        self.anomalies = AnomalyWatch(orchestrator, self.publish_anomaly, sandbox=sandbox)
        self.watch = {_key(s) for s in watchlist}
        self.live: dict[str, tuple[str, float]] = {}  # key → (provider, tick time)
        self.last: dict[str, dict[str, Any]] = {}  # key → last price payload
        self._assigned: dict[tuple[str, str], UpstreamStream] = {}  # (kind, key) → stream
        self._dirty: dict[str, CacheEntry] = {}
        self._keys: dict[str, str] = {}
        self._polled: dict[str, float] = {}
        self._seeded: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.clients = 0
        self.ip_clients: dict[str, int] = {}

    # -- wiring ----------------------------------------------------------------------------

    def add_stream(self, stream: UpstreamStream) -> None:
        self.streams.append(stream)

    async def start(self) -> None:
        self._route()
        for stream in self.streams:
            stream.start()
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="streams:flush"),
            asyncio.create_task(self._poll_loop(), name="streams:poll"),
            asyncio.create_task(
                self.anomalies.run(self.followed, ANOMALY_INTERVAL), name="streams:anomalies"
            ),
        ]

    def followed(self) -> set[str]:
        """The ``asset_class:SYMBOL`` keys clients follow on the ticker channel."""
        return {t.partition(":")[2] for t in self.fanout.topics if t.startswith("ticker:")}

    def publish_anomaly(self, key: str, body: bytes) -> None:
        self.fanout.publish(f"ticker:{key}", "anomaly", body, conflate=False)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for stream in reversed(self.streams):
            await stream.aclose()
        await self.books.aclose()
        await self._flush()

    # -- routing: which stream carries which symbol -----------------------------------------

    def demanded(self) -> set[tuple[str, str]]:
        wanted = {("ticker", key) for key in self.watch}
        wanted |= {("book", f"crypto:{symbol}") for symbol in self.books.wanted()}
        for topic in self.fanout.topics:
            kind, _, key = topic.partition(":")
            wanted.add((kind, key))
        return wanted

    def _route(self) -> None:
        wanted: dict[UpstreamStream, set[str]] = {s: set() for s in self.streams}
        assigned: dict[tuple[str, str], UpstreamStream] = {}
        for kind, key in sorted(self.demanded()):
            asset, symbol = split_key(key)
            for stream in self.streams:
                channel = stream.proto.channel(symbol, asset, kind)
                if channel is None or len(wanted[stream]) >= stream.proto.cap:
                    continue
                if (
                    stream.status.last_error
                    and not stream.status.connected
                    and (stream.status.reconnects > 3)
                ):
                    continue  # a stream that keeps failing is skipped: the next one may serve
                wanted[stream].add(channel)
                assigned[(kind, key)] = stream
                break
        self._assigned = assigned
        for stream, channels in wanted.items():
            stream.set_wanted(channels)

    def client_joined(self, ip: str) -> None:
        self.clients += 1
        self.ip_clients[ip] = self.ip_clients.get(ip, 0) + 1

    def client_left(self, ip: str) -> None:
        self.clients -= 1
        left = self.ip_clients.get(ip, 1) - 1
        if left > 0:
            self.ip_clients[ip] = left
        else:
            self.ip_clients.pop(ip, None)

    def refresh_routes(self) -> None:
        self._route()

    def want_book(self, symbol: str) -> None:
        if self.books.touch(symbol):
            self._route()

    def is_streamed(self, symbol: str) -> bool:
        """Whether ``symbol`` (``BTC``, ``crypto:BTC``) is kept fresh by a live stream now."""
        key = symbol if ":" in symbol else self._key_of(symbol)
        held = self.live.get(key)
        return held is not None and self._clock() - held[1] < 30.0

    # -- events from the streams -------------------------------------------------------------

    def on_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, DepthDiff):
                self.books.on_diff(event)
            else:
                self._on_tick(event)

    def _on_tick(self, tick: Tick) -> None:
        key = tick.key
        data = dict(self.last.get(key) or _blank(tick.symbol, tick.asset_class))
        data["price"] = tick.price
        data["timestamp"] = iso_z(datetime.fromtimestamp(tick.ts, tz=UTC))
        if tick.kind == "ticker":
            for name in (
                "change",
                "change_percent",
                "open",
                "high",
                "low",
                "previous_close",
                "volume",
            ):
                value = getattr(tick, name)
                if value is not None:
                    data[name] = value
        elif not data.get("previous_close") and key not in self._seeded:
            self._seeded.add(key)
            self._tasks.append(asyncio.create_task(self._seed(key)))
        elif data.get("previous_close"):
            prev = float(data["previous_close"])
            data["change"] = tick.price - prev
            data["change_percent"] = (tick.price - prev) / prev * 100.0
        if tick.kind == "trade":
            trade = {
                "type": "trade",
                "channel": "trades",
                "symbol": tick.symbol,
                "price": tick.price,
                "volume": tick.volume,
                "timestamp": data["timestamp"],
                "source": tick.provider,
            }
            self.fanout.publish(f"trades:{key}", "trade", orjson.dumps(trade), conflate=False)
            if tick.provider == "binance":
                return  # Binance prices come from its @ticker stream
        self.last[key] = data
        self.live[key] = (tick.provider, tick.ts)
        payload = orjson.dumps(data)
        self._dirty[key] = CacheEntry(
            payload,
            tick.provider,
            tick.ts,
            tick.ts + self.policy.fresh_ttl,
            tick.ts + self.policy.stale_ttl,
        )
        self.publish_price(key, data, tick.provider, tick.ts, cached=False)

    def publish_price(
        self,
        key: str,
        data: dict[str, Any],
        source: str,
        fetched: float,
        *,
        cached: bool,
        kind: str = "tick",
        freshness: Freshness | None = None,
    ) -> None:
        body = self.price_message(kind, data, source, fetched, cached=cached, freshness=freshness)
        self.fanout.publish(f"ticker:{key}", kind, body)

    def price_message(
        self,
        kind: str,
        data: dict[str, Any],
        source: str,
        fetched: float,
        *,
        cached: bool,
        freshness: Freshness | None = None,
    ) -> bytes:
        now = self._clock()
        if freshness is None:
            provider = self.orch.providers.get(source)
            native = provider.info.quote_freshness if provider else Freshness.DELAYED
            freshness = judge(native, max(0.0, now - fetched), False).freshness
        message = {
            "type": kind,
            "channel": "ticker",
            **data,
            "source": source,
            "cached": cached,
            "freshness": freshness.value,
            "age_seconds": round(max(0.0, now - fetched), 3),
            "fetched_at": iso_z(datetime.fromtimestamp(fetched, tz=UTC)),
        }
        if self.sandbox:
            message["sandbox"] = True
        return orjson.dumps(message)

    def on_down(self, stream: UpstreamStream) -> None:
        """A stream went down: hand its symbols back to REST at once."""
        now = self._clock()
        expired: list[tuple[str, CacheEntry]] = []
        for key, (provider, _) in list(self.live.items()):
            if provider != stream.provider:
                continue
            del self.live[key]
            self._dirty.pop(key, None)
            data = self.last.get(key)
            if data is not None:
                ts = datetime.fromisoformat(str(data["timestamp"]).replace("Z", "+00:00"))
                fetched = ts.timestamp()
                # Same fetched_at, fresh no longer: REST revalidates on the next request.
                entry = CacheEntry(
                    orjson.dumps(data),
                    provider,
                    fetched,
                    min(now, fetched),
                    fetched + self.policy.stale_ttl,
                )
                expired.append((self._cache_key(key), entry))
        self.books.on_down(stream.provider)
        if expired:
            task = asyncio.ensure_future(self.cache.write(expired, upto=self._upto()))
            self._tasks.append(task)
        self._polled.clear()

    # -- cache writes --------------------------------------------------------------------------

    def _key_of(self, raw: str) -> str:
        """The topic key of a client's symbol, read as subscribe reads it (the universes)."""
        inst = self.orch.instrument(raw)
        return symbol_key(inst.asset_class, inst.symbol)

    def _cache_key(self, key: str) -> str:
        text = self._keys.get(key)
        if text is None:
            text = self._keys[key] = CacheKey.of(DataType.PRICE, key).text
        return text

    def _upto(self) -> int:
        # Every tier but the durable SQL one (always last): ticks are too many for it.
        return max(1, len(self.cache.tiers) - 1)

    async def _flush(self) -> None:
        if not self._dirty:
            return
        items = [(self._cache_key(k), e) for k, e in self._dirty.items()]
        self._dirty = {}
        try:
            await self.cache.write(items, upto=self._upto())
        except Exception:  # a cache failure never stops the stream
            log.warning("stream cache write failed", exc_info=True)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self._flush()

    # -- clients -----------------------------------------------------------------------------

    async def subscribe(self, sub: Subscriber, channel: str, symbols: Sequence[str]) -> None:
        """Add topics, then queue a snapshot per symbol (before any tick for it)."""
        fresh = False
        for raw in symbols:
            inst = self.orch.instrument(raw)
            topic = f"{channel}:{symbol_key(inst.asset_class, inst.symbol)}"
            if topic in sub.topics:
                continue
            # The snapshot is queued before the topic is joined: joined first, a tick could
            # reach the client while the snapshot's price is still being fetched.
            await self.snapshot(sub, channel, inst.symbol, inst.asset_class)
            fresh |= self.fanout.add(sub, topic)
        if fresh:
            self._route()

    def unsubscribe(self, sub: Subscriber, channel: str, symbols: Sequence[str]) -> None:
        for raw in symbols:
            self.fanout.remove(sub, f"{channel}:{self._key_of(raw)}")
        self._route()

    def leave(self, sub: Subscriber) -> None:
        self.fanout.remove_all(sub)
        self._route()

    async def snapshot(self, sub: Subscriber, channel: str, symbol: str, asset: AssetClass) -> None:
        key = symbol_key(asset, symbol)
        ident = self.fanout.next_id()
        if channel == "book":
            body = orjson.dumps(
                {
                    "type": "snapshot",
                    "channel": "book",
                    "symbol": symbol,
                    **(self.books.view(symbol, 20) or {"levels": None}),
                }
            )
            sub.offer(f"book:{key}", (ident, "snapshot", body), conflate=False)
            return
        try:
            env = await self.orch.price(symbol, asset, priority=Priority.MEDIUM)
        except MarketsvcError as exc:
            body = orjson.dumps({"type": "error", "symbol": symbol, "detail": str(exc)})
            sub.offer(f"{channel}:{key}", (ident, "error", body), conflate=False)
            return
        data = env.data
        if key not in self.live:
            self.last[key] = data
        body = self.price_message(
            "snapshot",
            data,
            env.source,
            env.fetched_at.timestamp(),
            cached=env.cached,
            freshness=env.freshness,
        )
        sub.offer(f"{channel}:{key}", (ident, "snapshot", body), conflate=False)

    async def _seed(self, key: str) -> None:
        """Trade streams carry only a price: a symbol's previous close and day range come
        from one LOW-priority REST answer (the first time it trades), so ticks carry
        ``change``."""
        asset, symbol = split_key(key)
        try:
            env = await self.orch.price(symbol, asset, priority=Priority.LOW)
        except MarketsvcError:
            return
        held = self.last.setdefault(key, env.data)
        for name in ("previous_close", "open", "high", "low", "market_cap"):
            if held.get(name) is None:
                held[name] = env.data.get(name)

    async def _poll_loop(self) -> None:
        """Clients' symbols that no stream carries: polled through the planner at LOW."""
        while True:
            await asyncio.sleep(self.poll_interval)
            for key in sorted(self.followed() - set(self.live)):
                asset, symbol = split_key(key)
                try:
                    env = await self.orch.price(symbol, asset, priority=Priority.LOW)
                except MarketsvcError:
                    continue
                fetched = env.fetched_at.timestamp()
                if self._polled.get(key) == fetched or key in self.live:
                    continue
                self._polled[key] = fetched
                self.publish_price(
                    key, env.data, env.source, fetched, cached=env.cached, freshness=env.freshness
                )

    def stats(self) -> dict[str, Any]:
        return {
            "streams": {s.name: s.snapshot() for s in self.streams},
            "live_symbols": len(self.live),
            "clients": self.clients,
            "subscriptions": sum(len(v) for v in self.fanout.topics.values()),
            "topics": len(self.fanout.topics),
            "dropped_slow_consumers": self.fanout.dropped_clients,
            "published": self.fanout.published,
            "books": self.books.stats(),
        }


def _blank(symbol: str, asset: AssetClass) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "price": None,
        "change": None,
        "change_percent": None,
        "timestamp": None,
        "currency": "USD",
        "asset_class": asset.value,
        "volume": None,
        "market_cap": None,
        "open": None,
        "high": None,
        "low": None,
        "previous_close": None,
    }


def _key(raw: str) -> str:
    # Watchlists are read at construction, before the stored universes are loaded.
    inst = resolve(raw)
    return symbol_key(inst.asset_class, inst.symbol)
