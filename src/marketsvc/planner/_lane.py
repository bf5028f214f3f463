"""One provider's lane: its priority queue, in-flight count, counters and statistics."""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from marketsvc.domain import Priority, RateLimit
from marketsvc.errors import CallTooHeavyError, DeadlineExceededError
from marketsvc.planner._batching import BatchCall
from marketsvc.planner._work import State, Waiter, Work
from marketsvc.planner.window import WindowUsage


@dataclass(frozen=True, slots=True)
class ProviderStats:
    """A snapshot of one provider's lane, for ``/stats`` and ``/metrics``."""

    provider: str
    queue_depth: Mapping[str, int]  # callers waiting, by priority name
    in_flight: int
    calls: int  # upstream attempts, retries included
    rate_limited: int  # 429s (RateLimitedError) received
    retries: int
    windows: tuple[WindowUsage, ...]
    wait_p50: float  # seconds from queueing to dispatch, over the last waits
    wait_p99: float
    batch_sizes: Mapping[int, int]  # items per batched upstream call -> how many calls

    @property
    def mean_batch_size(self) -> float:
        calls = sum(self.batch_sizes.values())
        return sum(k * v for k, v in self.batch_sizes.items()) / calls if calls else 0.0


class Lane:
    """The queue is a heap of ``(priority, seq, work)`` with lazy deletion.

    asyncio.PriorityQueue cannot show its head without taking it, and the dispatcher must weigh
    the head against the budget *before* committing to it: a call taken out early would keep
    its place while a more urgent one arrives. Entries whose work is no longer QUEUED (sent,
    failed, or re-entered with a higher priority) are skipped when they reach the top.
    """

    def __init__(
        self,
        provider: str,
        limits: tuple[RateLimit, ...],
        workers: int,
        max_queue: int,
        reserved: tuple[int, ...] = (),
    ):
        self.provider = provider
        self.limits = limits
        self.reserved = reserved or (0,) * len(limits)
        self.workers = workers
        self.max_queue = max_queue
        self.heap: list[tuple[int, int, Work]] = []
        self.depth: dict[Priority, int] = dict.fromkeys(Priority, 0)
        self.in_flight = 0
        self.wake = asyncio.Event()  # something the dispatcher waits for may have changed
        self.next_free_at = -math.inf  # budget known to be unavailable until then
        # A provider's Retry-After, on the planner's clock, set the moment the 429 arrives so
        # no other call of this process slips out before the shared limiter records it.
        self.blocked_until = -math.inf
        self.open_batches: dict[str, BatchCall] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.waiters: set[Waiter] = set()  # every caller inside call()/call_batched()
        self.dispatcher: asyncio.Task[None] | None = None
        self.calls = 0
        self.rate_limited = 0
        self.retries = 0
        self.waits: deque[float] = deque(maxlen=2048)
        self.batch_sizes: Counter[int] = Counter()

    # -- queue -------------------------------------------------------------------------------

    def push(self, work: Work) -> None:
        deadline = work.deadline
        if deadline is not None and deadline < max(self.next_free_at, self.blocked_until):
            # No budget before its deadline (a batch that gathered while the budget ran out,
            # a retry behind a Retry-After block): fail now rather than wait it out.
            self.fail(work, DeadlineExceededError(self.provider, "no budget before deadline"))
            return
        work.state = State.QUEUED
        heapq.heappush(self.heap, (work.priority, work.seq, work))
        self.wake.set()

    def head(self, now: float) -> Work | None:
        """The most urgent live work, after dropping dead and expired entries."""
        while self.heap:
            work = self.heap[0][2]
            if work.state is not State.QUEUED:
                heapq.heappop(self.heap)
            elif not work.alive():
                heapq.heappop(self.heap)
                self.finish(work)
            elif (deadline := work.deadline) is not None and deadline <= now:
                heapq.heappop(self.heap)
                self.fail(work, DeadlineExceededError(self.provider))
            else:
                return work
        return None

    def expire_before(self, horizon: float) -> None:
        """Fail now every queued call whose deadline falls before ``horizon``, the earliest
        instant the next call can go: waiting longer cannot help them."""
        for _, _, work in self.heap:
            deadline = work.deadline if work.state is State.QUEUED else None
            if deadline is not None and deadline < horizon:
                self.fail(work, DeadlineExceededError(self.provider, "no budget before deadline"))

    def evictable(self, priority: Priority) -> Work | None:
        """The newest queued work of the lowest priority below ``priority``, if any."""
        victims = [
            (w.priority, w.seq, w)
            for _, _, w in self.heap
            if w.state is State.QUEUED and w.priority > priority and w.alive()
        ]
        return max(victims, key=lambda v: (v[0], v[1]))[2] if victims else None

    @property
    def most(self) -> int:
        """The heaviest ordinary call one window of the limits can ever grant."""
        return min(lim.limit - r for lim, r in zip(self.limits, self.reserved, strict=True))

    @property
    def most_lookup(self) -> int:
        """The heaviest lookup (follow-up request inside a granted call) ever granted."""
        return min(lim.limit for lim in self.limits)

    def too_heavy(self, weight: int, lookup: bool = False) -> CallTooHeavyError | None:
        most = self.most_lookup if lookup else self.most
        if weight <= most:
            return None
        shortest = min(lim.window for lim in self.limits)
        return CallTooHeavyError(self.provider, weight, most, retry_after=shortest)

    def fitting_batch(self, max_batch: int, weight_for: Callable[[int], int]) -> int:
        """The largest batch size up to ``max_batch`` whose weight fits one window (Binance's
        21-100 symbol tickers weigh 40: under 30/minute they go as batches of 20 at weight 2);
        CallTooHeavyError when not even one item fits."""
        most = self.most
        for size in range(max_batch, 0, -1):  # the first try fits unless the limit is tight
            if max(1, weight_for(size)) <= most:
                return size
        too_heavy = self.too_heavy(max(1, weight_for(1)))
        assert too_heavy is not None
        raise too_heavy

    @property
    def queued(self) -> int:
        return sum(self.depth.values())

    # -- bookkeeping ---------------------------------------------------------------------------

    def unqueue(self, waiter: Waiter) -> None:
        if waiter.queued:
            waiter.queued = False
            self.depth[waiter.priority] -= 1

    def dispatched(self, work: Work, now: float) -> None:
        work.state = State.RUNNING
        for waiter in work.waiters:
            if waiter.queued:
                self.unqueue(waiter)
                self.waits.append(now - waiter.enqueued_at)

    def finish(self, work: Work) -> None:
        work.state = State.DONE
        if isinstance(work, BatchCall) and self.open_batches.get(work.key) is work:
            del self.open_batches[work.key]
        for waiter in work.waiters:
            self.unqueue(waiter)

    def fail(self, work: Work, exc: BaseException) -> None:
        self.finish(work)
        work.reject(exc)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def drain_estimate(self) -> float:
        """Seconds the current backlog needs at the provider's tightest sustained rate."""
        rate = min(limit.limit / limit.window for limit in self.limits)
        return max(1.0, math.ceil((self.queued + 1) / rate))

    def snapshot(self, windows: tuple[WindowUsage, ...]) -> ProviderStats:
        waits = sorted(self.waits)
        return ProviderStats(
            provider=self.provider,
            queue_depth={p.name: self.depth[p] for p in Priority},
            in_flight=self.in_flight,
            calls=self.calls,
            rate_limited=self.rate_limited,
            retries=self.retries,
            windows=windows,
            wait_p50=_percentile(waits, 0.50),
            wait_p99=_percentile(waits, 0.99),
            batch_sizes=dict(sorted(self.batch_sizes.items())),
        )


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
