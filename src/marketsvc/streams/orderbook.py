"""A local order book kept the way Binance documents it (pure logic, no I/O).

1. Buffer ``depthUpdate`` diffs from the stream. 2. Take a ``/api/v3/depth`` snapshot.
3. If the snapshot is older than the first buffered diff (a hole between them), take another.
4. Drop buffered diffs with ``u <= lastUpdateId``; the first one applied must straddle
   ``lastUpdateId + 1``. 5. Every later diff must start at the previous ``u + 1``; otherwise
   diffs were lost: the book is unsynced and starts over from step 1 (resync).
A quantity of 0 removes the level.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum

from marketsvc.streams.events import DepthDiff

MAX_BUFFER = 2000


class Applied(Enum):
    BUFFERED = "buffered"
    APPLIED = "applied"
    STALE = "stale"
    GAP = "gap"


@dataclass(slots=True)
class LocalBook:
    symbol: str
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    last_id: int = 0
    synced: bool = False
    buffer: list[DepthDiff] = field(default_factory=list)
    resyncs: int = 0
    applied: int = 0
    updated_at: float = 0.0

    def on_diff(self, diff: DepthDiff) -> Applied:
        if not self.synced:
            self.buffer.append(diff)
            del self.buffer[:-MAX_BUFFER]
            return Applied.BUFFERED
        if diff.last_id <= self.last_id:
            return Applied.STALE
        if diff.first_id != self.last_id + 1:
            self.synced = False
            self.buffer = [diff]
            self.resyncs += 1
            return Applied.GAP
        self._apply(diff)
        return Applied.APPLIED

    def load_snapshot(
        self,
        last_update_id: int,
        bids: list[tuple[float, float]],
        asks: list[tuple[float, float]],
    ) -> bool:
        """Start from a REST snapshot; False when it cannot be joined to the buffered diffs
        (take a newer one)."""
        pending = [d for d in self.buffer if d.last_id > last_update_id]
        if pending and pending[0].first_id > last_update_id + 1:
            return False  # diffs between the snapshot and the buffer were never seen
        for earlier, later in itertools.pairwise(pending):
            if later.first_id != earlier.last_id + 1:
                # A hole inside the buffer itself: keep only what follows it and retry.
                self.buffer = pending[pending.index(later) :]
                return False
        self.bids = {p: q for p, q in bids if q > 0}
        self.asks = {p: q for p, q in asks if q > 0}
        self.last_id = last_update_id
        self.buffer = []
        self.synced = True
        for diff in pending:
            self._apply(diff)
        return True

    def unsync(self) -> None:
        self.synced = False
        self.buffer = []

    def _apply(self, diff: DepthDiff) -> None:
        for side, levels in ((self.bids, diff.bids), (self.asks, diff.asks)):
            for price, qty in levels:
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_id = diff.last_id
        self.updated_at = diff.ts
        self.applied += 1

    def top(self, depth: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids = sorted(self.bids.items(), reverse=True)[:depth]
        asks = sorted(self.asks.items())[:depth]
        return bids, asks
