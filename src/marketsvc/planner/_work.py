"""What sits in a provider's queue: one upstream call and the callers waiting for its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from marketsvc.domain import Priority


class State(Enum):
    GATHERING = "gathering"  # a batch still collecting items, not yet in the queue
    QUEUED = "queued"
    RUNNING = "running"
    BACKOFF = "backoff"  # failed, waiting to be queued again
    DONE = "done"


@dataclass(slots=True, eq=False)
class Waiter:
    """One caller: its own future, priority and deadline (planner clock). The caller leaves at
    ``deadline``, even while its call runs; ``start_by`` (default: the deadline) is the latest
    its call may be sent or retried: a caller with somewhere else to go does not wait out a
    queue or a Retry-After, yet still takes a slow answer that is on its way."""

    future: asyncio.Future[Any]
    priority: Priority
    deadline: float | None
    enqueued_at: float
    # True until the call is dispatched or the caller leaves: counts in the queue depth.
    queued: bool = field(default=True)
    start_by: float | None = None

    @property
    def patience(self) -> float | None:
        return self.start_by if self.start_by is not None else self.deadline

    def live(self) -> bool:
        return not self.future.done()

    def resolve(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value)

    def reject(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Work:
    """One upstream call; ordered in the queue by (priority, seq): FIFO within a priority."""

    __slots__ = ("attempt", "idempotent", "priority", "seq", "state")

    def __init__(self, seq: int, priority: Priority, idempotent: bool) -> None:
        self.seq = seq
        self.priority = priority
        self.idempotent = idempotent
        self.state = State.QUEUED
        self.attempt = 0

    @property
    def weight(self) -> int:
        raise NotImplementedError

    @property
    def waiters(self) -> list[Waiter]:
        raise NotImplementedError

    @property
    def deadline(self) -> float | None:
        """The latest instant at which sending (or retrying) the call still helps someone."""
        deadlines = [w.patience for w in self.waiters if w.live()]
        if not deadlines or None in deadlines:
            return None
        return max(d for d in deadlines if d is not None)

    def alive(self) -> bool:
        return any(w.live() for w in self.waiters)

    def seal(self) -> None:
        """Stop accepting new callers: the call is about to be weighed and sent."""

    def invoke(self) -> Awaitable[Any]:
        raise NotImplementedError

    def settle(self, value: Any) -> None:
        raise NotImplementedError

    def reject(self, exc: BaseException) -> None:
        for waiter in self.waiters:
            waiter.reject(exc)


class SingleCall(Work):
    __slots__ = ("_fn", "_waiter", "_weight")

    def __init__(
        self,
        seq: int,
        waiter: Waiter,
        fn: Callable[[], Awaitable[Any]],
        weight: int,
        idempotent: bool,
    ) -> None:
        super().__init__(seq, waiter.priority, idempotent)
        self._waiter = waiter
        self._fn = fn
        self._weight = weight

    @property
    def weight(self) -> int:
        return self._weight

    @property
    def waiters(self) -> list[Waiter]:
        return [self._waiter]

    def invoke(self) -> Awaitable[Any]:
        return self._fn()

    def settle(self, value: Any) -> None:
        self._waiter.resolve(value)
