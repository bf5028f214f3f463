"""A batched upstream call: callers asking the same multi-symbol operation share one request.

The batch gathers callers while it waits (first for a short gathering delay, then in the queue
itself) until it is full or the planner is about to weigh and send it; then it is sealed and any
later caller starts the next batch. Each caller gets its own item's answer or error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from marketsvc.domain import Priority
from marketsvc.errors import SymbolNotFoundError
from marketsvc.planner._work import State, Waiter, Work

BatchFn = Callable[[list[str]], Awaitable[Mapping[str, Any]]]


class BatchCall(Work):
    __slots__ = (
        "_batch_fn",
        "_sent",
        "_weight_for",
        "due",
        "items",
        "key",
        "max_batch",
        "provider",
        "sealed",
        "timer",
    )

    def __init__(
        self,
        seq: int,
        provider: str,
        key: str,
        batch_fn: BatchFn,
        max_batch: int,
        weight_for: Callable[[int], int],
    ) -> None:
        super().__init__(seq, Priority.BATCH, idempotent=True)
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.state = State.GATHERING
        self.provider = provider
        self.key = key
        self.max_batch = max_batch
        self.items: dict[str, list[Waiter]] = {}
        self.sealed = False
        self.timer: asyncio.Task[None] | None = None
        self.due = float("inf")  # when gathering ends and the batch joins the queue
        self._batch_fn = batch_fn
        self._weight_for = weight_for
        self._sent: list[str] = []

    def add(self, item: str, waiter: Waiter) -> bool:
        """Add a caller; returns True if that raised the batch's priority."""
        self.items.setdefault(item, []).append(waiter)
        if waiter.priority < self.priority:
            self.priority = waiter.priority
            return True
        return False

    @property
    def full(self) -> bool:
        return len(self.items) >= self.max_batch

    def live_items(self) -> list[str]:
        return [item for item, waiters in self.items.items() if any(w.live() for w in waiters)]

    @property
    def size(self) -> int:
        return len(self._sent)

    @property
    def weight(self) -> int:
        return max(1, self._weight_for(max(1, len(self.live_items()))))

    @property
    def waiters(self) -> list[Waiter]:
        return [w for waiters in self.items.values() for w in waiters]

    def seal(self) -> None:
        self.sealed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def invoke(self) -> Awaitable[Mapping[str, Any]]:
        # Items whose callers all left are not asked for (a retry may ask for fewer).
        self._sent = self.live_items()
        return self._batch_fn(list(self._sent))

    def settle(self, value: Any) -> None:
        answers: Mapping[str, Any] = value
        for item in self._sent:
            answer = answers.get(item, _MISSING)
            for waiter in self.items[item]:
                if answer is _MISSING:
                    # Absent from the answer: unknown to the provider, for this caller only.
                    waiter.reject(SymbolNotFoundError(self.provider, item))
                elif isinstance(answer, BaseException):
                    waiter.reject(answer)
                else:
                    waiter.resolve(answer)


_MISSING = object()
