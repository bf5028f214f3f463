"""A deterministic synthetic order book for the Binance depth emulation.

Prices and quantities are integers (price ticks, lots) so the emulator's book and a client's
local copy compare exactly; they are rendered as Binance's decimal strings on the wire. The
book keeps at most ``LEVELS`` levels per side around a fixed centre, so a depth snapshot with
``limit >= LEVELS`` holds the whole book (what the equality test relies on).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

LEVELS = 40
DIFF_INTERVAL = 0.1  # @depth@100ms
HISTORY = 600  # diffs kept for late readers (60 s)
MAX_CATCH_UP = 1000  # an idle feed jumps instead of replaying more than this


@dataclass(frozen=True, slots=True)
class Diff:
    first_id: int  # Binance "U"
    last_id: int  # Binance "u"
    bids: tuple[tuple[int, int], ...]  # (price tick, lots); lots 0 removes the level
    asks: tuple[tuple[int, int], ...]
    ts: float


class SyntheticBook:
    """The book of one symbol; ``step()`` moves it by one seeded diff."""

    def __init__(self, symbol: str, centre: int, seed: int = 0) -> None:
        self.symbol = symbol
        self.centre = centre
        self._rng = random.Random(f"{symbol}:{seed}")
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        for i in range(1, LEVELS + 1):
            self.bids[centre - i] = self._rng.randint(1, 500)
            self.asks[centre + i] = self._rng.randint(1, 500)
        self.last_update_id = 1000

    def step(self, ts: float) -> Diff:
        changes = self._rng.randint(1, 6)
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for _ in range(changes):
            side, book = (bids, self.bids) if self._rng.random() < 0.5 else (asks, self.asks)
            offset = self._rng.randint(1, LEVELS)
            price = self.centre - offset if book is self.bids else self.centre + offset
            lots = 0 if self._rng.random() < 0.25 else self._rng.randint(1, 500)
            side[price] = lots
            if lots == 0:
                book.pop(price, None)
            else:
                book[price] = lots
        first = self.last_update_id + 1
        self.last_update_id += changes
        return Diff(first, self.last_update_id, tuple(bids.items()), tuple(asks.items()), ts)

    def snapshot(self, limit: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return self.last_update_id, bids, asks


class BookFeed:
    """A book advanced by wall time (one diff per 100 ms), with a short diff history so every
    connection reads the same sequence of update ids."""

    def __init__(self, book: SyntheticBook, now: float) -> None:
        self.book = book
        self.history: deque[Diff] = deque(maxlen=HISTORY)
        self._next_at = now

    def advance_to(self, now: float) -> None:
        due = int((now - self._next_at) / DIFF_INTERVAL) + 1 if now >= self._next_at else 0
        if due > MAX_CATCH_UP:
            self._next_at += (due - MAX_CATCH_UP) * DIFF_INTERVAL
            due = MAX_CATCH_UP
        for _ in range(due):
            self.history.append(self.book.step(self._next_at))
            self._next_at += DIFF_INTERVAL

    def since(self, last_id: int) -> list[Diff]:
        return [d for d in self.history if d.last_id > last_id]


def tick_size(price: float) -> float:
    """A price step that gives ~40 levels a sensible spread around ``price``."""
    step = 10.0 ** (len(str(int(price))) - 5) if price >= 1 else 1e-6
    return max(step, 1e-8)


def render(ticks: int, step: float) -> str:
    return f"{ticks * step:.8f}"
