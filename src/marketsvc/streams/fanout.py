"""Fan-out to this process's clients: topics (``ticker:crypto:BTC``), per-client conflating
mailboxes and the short replay buffer behind SSE's ``Last-Event-ID``.

A slow client never gets an unbounded buffer: its mailbox holds at most one message per topic
(the latest value replaces an unsent one: conflation) plus a bounded queue for messages that
must not be conflated (snapshots, trades, errors). A client whose oldest unsent message waits
longer than ``max_lag`` seconds, or whose queue overflows, is marked dropped with a reason and
its connection closes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator

Item = tuple[int, str, bytes]  # (event id, event type, JSON bytes)


class Subscriber:
    def __init__(
        self,
        *,
        max_queue: int = 1000,
        max_lag: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics: set[str] = set()
        self._latest: OrderedDict[str, Item] = OrderedDict()
        self._queue: deque[Item] = deque()
        self._max_queue = max_queue
        self._max_lag = max_lag
        self._clock = clock
        self._oldest: float | None = None
        self._wake = asyncio.Event()
        self.conflated = 0
        self.delivered = 0
        self.dropped: str | None = None

    def offer(self, topic: str, item: Item, *, conflate: bool = True) -> None:
        if self.dropped is not None:
            return
        now = self._clock()
        if self._oldest is None:
            self._oldest = now
        elif now - self._oldest > self._max_lag:
            self.drop(f"too slow: more than {self._max_lag:g} s behind")
            return
        if conflate:
            if topic in self._latest:
                self.conflated += 1
            self._latest[topic] = item
        else:
            if len(self._queue) >= self._max_queue:
                self.drop("too slow: send queue full")
                return
            self._queue.append(item)
        self._wake.set()

    def drop(self, reason: str) -> None:
        self.dropped = reason
        self._latest.clear()
        self._queue.clear()
        self._wake.set()

    def pending(self) -> int:
        return len(self._latest) + len(self._queue)

    async def take(self) -> list[Item]:
        """Wait for messages and take all of them (queued first, then latest values)."""
        while not self._queue and not self._latest and self.dropped is None:
            self._wake.clear()
            await self._wake.wait()
        items = sorted([*self._queue, *self._latest.values()])
        self._queue.clear()
        self._latest.clear()
        self._oldest = None
        self.delivered += len(items)
        return items


class Fanout:
    def __init__(self, replay: int = 2048) -> None:
        self.topics: dict[str, set[Subscriber]] = {}
        self._seq = 0
        self._replay: deque[tuple[int, str, str, bytes]] = deque(maxlen=replay)
        self.published = 0
        self.dropped_clients = 0

    def next_id(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, sub: Subscriber, topic: str) -> bool:
        """Subscribe; True when the topic had no subscriber before (new demand)."""
        subs = self.topics.setdefault(topic, set())
        new = not subs
        subs.add(sub)
        sub.topics.add(topic)
        return new

    def remove(self, sub: Subscriber, topic: str) -> None:
        subs = self.topics.get(topic)
        sub.topics.discard(topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.topics[topic]

    def remove_all(self, sub: Subscriber) -> None:
        if sub.dropped is not None and sub.dropped.startswith("too slow"):
            self.dropped_clients += 1
        for topic in list(sub.topics):
            self.remove(sub, topic)

    def publish(self, topic: str, kind: str, body: bytes, *, conflate: bool = True) -> int:
        ident = self.next_id()
        self.published += 1
        self._replay.append((ident, topic, kind, body))
        for sub in self.topics.get(topic, ()):
            sub.offer(topic, (ident, kind, body), conflate=conflate)
        return ident

    def replay(self, after: int, topics: set[str]) -> Iterator[Item] | None:
        """Events after id ``after`` on ``topics``, or None when the buffer no longer reaches
        back that far (the client then gets fresh snapshots instead)."""
        if after > self._seq or (self._replay and self._replay[0][0] > after + 1):
            return None
        return (
            (ident, kind, body)
            for ident, topic, kind, body in list(self._replay)
            if ident > after and topic in topics
        )

    def subscribers(self) -> int:
        return len({s for subs in self.topics.values() for s in subs})
