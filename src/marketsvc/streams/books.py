"""Binance order books for the symbols someone asked about: the stream's ``@depth@100ms``
diffs into :class:`LocalBook`, snapshots through the call planner (weighted like any call),
a resync whenever a gap shows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

from marketsvc.domain import Priority
from marketsvc.errors import MarketsvcError
from marketsvc.orchestrator import DataOrchestrator
from marketsvc.streams.events import DepthDiff
from marketsvc.streams.orderbook import Applied, LocalBook

log = logging.getLogger(__name__)

SNAPSHOT_LIMIT = 1000
SNAPSHOT_WEIGHT = 50  # Binance: limit 501..1000 weighs 50
INTEREST_SECONDS = 300.0  # an /orderbook request keeps its book streamed this long


def _weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


class BookKeeper:
    def __init__(self, orchestrator: DataOrchestrator) -> None:
        self.orch = orchestrator
        self.books: dict[str, LocalBook] = {}
        self.interest: dict[str, float] = {}  # symbol → last REST request time
        self._syncing: dict[str, asyncio.Task[None]] = {}
        self.snapshots = 0

    def wanted(self) -> set[str]:
        now = time.monotonic()
        for symbol, at in list(self.interest.items()):
            if now - at > INTEREST_SECONDS:
                del self.interest[symbol]
        return set(self.interest)

    def touch(self, symbol: str) -> bool:
        """Note a REST request; True when the book was not wanted before."""
        new = symbol not in self.interest
        self.interest[symbol] = time.monotonic()
        return new

    def on_diff(self, diff: DepthDiff) -> None:
        book = self.books.setdefault(diff.symbol, LocalBook(diff.symbol))
        result = book.on_diff(diff)
        if result is Applied.GAP:
            log.info("order book %s: gap before update %d, resyncing", diff.symbol, diff.first_id)
        if not book.synced and diff.symbol not in self._syncing:
            self._syncing[diff.symbol] = asyncio.create_task(self._sync(book))

    def on_down(self, provider: str) -> None:
        if provider == "binance":
            for book in self.books.values():
                book.unsync()

    async def _sync(self, book: LocalBook) -> None:
        try:
            for _ in range(5):
                await asyncio.sleep(0.05)  # let a few diffs buffer first
                try:
                    snap = await self.fetch(book.symbol, SNAPSHOT_LIMIT)
                except MarketsvcError:
                    await asyncio.sleep(1.0)
                    continue
                bids = [(float(p), float(q)) for p, q in snap["bids"]]
                asks = [(float(p), float(q)) for p, q in snap["asks"]]
                if book.load_snapshot(int(snap["lastUpdateId"]), bids, asks):
                    return
        finally:
            self._syncing.pop(book.symbol, None)

    async def fetch(self, symbol: str, limit: int) -> dict[str, Any]:
        """A REST depth snapshot through the planner (HIGH: someone is waiting on it)."""
        provider = cast(Any, self.orch.providers.get("binance"))
        if provider is None:
            raise MarketsvcError("order books need the Binance provider")
        planner = self.orch.runner.planner
        params = {"symbol": f"{symbol}USDT", "limit": str(limit)}

        async def call() -> Any:
            return await provider._get("api/v3/depth", params, f"{symbol}USDT")

        self.snapshots += 1
        body: dict[str, Any] = await planner.call(
            "binance", call, priority=Priority.HIGH, weight=_weight(limit)
        )
        return body

    def view(self, symbol: str, depth: int) -> dict[str, Any] | None:
        book = self.books.get(symbol)
        if book is None or not book.synced:
            return None
        bids, asks = book.top(depth)
        return shape(bids, asks, book.last_id, book.updated_at, "binance", stream=True)

    async def aclose(self) -> None:
        for task in list(self._syncing.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stats(self) -> dict[str, Any]:
        return {
            s: {
                "synced": b.synced,
                "last_update_id": b.last_id,
                "resyncs": b.resyncs,
                "applied": b.applied,
            }
            for s, b in self.books.items()
        }


def shape(
    bids: list[tuple[float, float]],
    asks: list[tuple[float, float]],
    update_id: int,
    updated_at: float,
    source: str,
    *,
    stream: bool,
) -> dict[str, Any]:
    best_bid = bids[0][0] if bids else None
    best_ask = asks[0][0] if asks else None
    both = best_bid is not None and best_ask is not None
    return {
        "bids": [[p, q] for p, q in bids],
        "asks": [[p, q] for p, q in asks],
        "spread": (best_ask - best_bid) if both else None,  # type: ignore[operator]
        "mid": (best_ask + best_bid) / 2 if both else None,  # type: ignore[operator]
        "update_id": update_id,
        "age_seconds": round(max(0.0, time.time() - updated_at), 3) if updated_at else None,
        "source": source,
        "from_stream": stream,
    }
