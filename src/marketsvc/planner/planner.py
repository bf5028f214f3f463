"""CallPlanner: every upstream call waits here for its provider's budget, most urgent first.

Per provider, one dispatcher task looks at the most urgent queued call, asks the limiter for
its weight and, once granted, starts it (at most ``workers`` at a time). Budget is asked for
*before* a call is taken from the queue, so whenever a unit frees up it goes to whatever is most
urgent at that moment. Providers have separate queues and dispatchers: one slow provider never
holds up another. The planner knows nothing of providers: it runs plain async callables.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from marketsvc.domain import Priority, RateLimit
from marketsvc.errors import (
    CallTooHeavyError,
    ConfigError,
    DeadlineExceededError,
    PlannerError,
    RateLimitedError,
    SaturatedError,
)
from marketsvc.planner._batching import BatchCall
from marketsvc.planner._lane import Lane, ProviderStats
from marketsvc.planner._retry import RetryBudget, RetryPolicy, retry_delay
from marketsvc.planner._work import SingleCall, State, Waiter, Work
from marketsvc.planner.limiter import Limiter

T = TypeVar("T")
log = logging.getLogger(__name__)


def _one(_: int) -> int:
    return 1


class CallPlanner:
    """Use as ``async with CallPlanner(limiter) as planner`` or call start()/aclose().

    ``monotonic`` (monotonic seconds) is the time base of deadlines; ``sleep`` waits on it. Both
    are injectable so tests can run on virtual time.
    """

    def __init__(
        self,
        limiter: Limiter,
        *,
        workers: int = 3,
        max_queue: int = 10_000,
        batch_delay: float = 5.0,
        gather_delay: float = 0.005,
        retry: RetryPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if workers < 1 or max_queue < 1:
            raise ValueError("workers and max_queue must be at least 1")
        self._limiter = limiter
        self._workers = workers
        self._max_queue = max_queue
        self._batch_delay = batch_delay
        self._gather_delay = gather_delay
        self._retry = retry or RetryPolicy()
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lanes: dict[str, Lane] = {}
        self._budgets: dict[str, RetryBudget] = {}
        self._seq = itertools.count()
        self._started = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def configure(
        self,
        provider: str,
        limits: Sequence[RateLimit],
        *,
        reserved: Sequence[int] = (),
        workers: int | None = None,
        max_queue: int | None = None,
    ) -> None:
        """Set (or change) a provider's limits, the units of each kept for lookups
        (``reserved``), concurrency and queue bound."""
        await self._limiter.configure(provider, limits, reserved)
        lane = self._lanes.get(provider)
        if lane is None:
            lane = Lane(
                provider,
                tuple(limits),
                workers or self._workers,
                max_queue or self._max_queue,
                tuple(reserved),
            )
            self._lanes[provider] = lane
            self._budgets[provider] = RetryBudget(self._retry, self._monotonic())
            if self._started:
                lane.dispatcher = asyncio.create_task(self._dispatch(lane))
        else:
            lane.limits = tuple(limits)
            lane.reserved = tuple(reserved) or (0,) * len(limits)
            lane.workers = workers or lane.workers
            lane.max_queue = max_queue or lane.max_queue
            lane.wake.set()

    async def start(self) -> None:
        if self._closed:
            raise PlannerError("the planner was closed")
        self._started = True
        for lane in self._lanes.values():
            if lane.dispatcher is None:
                lane.dispatcher = asyncio.create_task(self._dispatch(lane))

    async def aclose(self) -> None:
        """Stop every task; callers still waiting get a PlannerError."""
        self._closed = True
        for lane in self._lanes.values():
            tasks = [*lane.tasks, *([lane.dispatcher] if lane.dispatcher else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # A task cancelled before it first ran never saw its CancelledError: answer every
            # caller still waiting from the registry, whatever state its call was in.
            closed = PlannerError(f"{lane.provider}: planner closed")
            for waiter in list(lane.waiters):
                waiter.reject(closed)
            lane.heap.clear()
            lane.open_batches.clear()

    async def __aenter__(self) -> CallPlanner:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def now(self) -> float:
        """The planner's clock, for computing absolute deadlines."""
        return self._monotonic()

    # -- calls ---------------------------------------------------------------------------------

    async def call(
        self,
        provider: str,
        fn: Callable[[], Awaitable[T]],
        *,
        priority: Priority = Priority.MEDIUM,
        weight: int = 1,
        deadline: float | None = None,
        start_by: float | None = None,
        idempotent: bool = True,
    ) -> T:
        """Run ``fn`` once the provider's budget allows; ``deadline`` is on :meth:`now`. The
        caller leaves at ``deadline``; ``start_by`` (default: the deadline) is the latest the
        call may be sent or retried (see :class:`~marketsvc.planner._work.Waiter`)."""
        if weight < 1:
            raise ValueError(f"weight must be at least 1, not {weight}")
        lane = self._lane(provider)
        too_heavy = lane.too_heavy(weight)
        if too_heavy is not None:
            raise too_heavy  # it could never be granted: say so now rather than queue it
        waiter = self._admit(lane, priority, deadline, start_by)
        self._budgets[provider].offered(waiter.enqueued_at)
        lane.push(SingleCall(next(self._seq), waiter, fn, weight, idempotent))
        result: T = await self._wait(lane, waiter)
        return result

    async def call_batched(
        self,
        provider: str,
        op_key: str,
        item: str,
        batch_fn: Callable[[list[str]], Awaitable[Mapping[str, T | Exception]]],
        *,
        max_batch: int,
        weight_for: Callable[[int], int] = _one,
        priority: Priority = Priority.MEDIUM,
        deadline: float | None = None,
        start_by: float | None = None,
    ) -> T:
        """Ask for ``item`` through ``batch_fn``, sharing one upstream call with every caller
        of the same ``op_key`` waiting meanwhile (up to ``max_batch`` items). An item missing
        from the answer raises SymbolNotFoundError for its callers only; ``weight_for(n)``
        is the weight of one upstream call for n items. A batch never grows heavier than one
        window of the limits allows: ``max_batch`` shrinks to the largest size that fits."""
        lane = self._lane(provider)
        max_batch = lane.fitting_batch(max_batch, weight_for)
        waiter = self._admit(lane, priority, deadline, start_by)
        now = waiter.enqueued_at
        batch = lane.open_batches.get(op_key)
        # Nobody else is waiting on this provider (nothing gathering, queued or running): an
        # interactive caller does not wait for batch-mates that are not coming (the gathering
        # delay was most of a miss's latency). Under load the window still applies.
        alone = (
            batch is None
            and priority is not Priority.BATCH
            and lane.in_flight == 0
            and lane.queued <= 1  # this caller
        )
        if batch is None or batch.sealed or batch.full or batch.state not in _OPEN:
            batch = BatchCall(next(self._seq), provider, op_key, batch_fn, max_batch, weight_for)
            lane.open_batches[op_key] = batch
            self._budgets[provider].offered(now)
        raised = batch.add(item, waiter)
        if batch.full or alone:
            if batch.full:
                self._seal(lane, batch)
            if batch.state is State.GATHERING or raised:
                # Queued at once; until dispatched it still takes callers of the same tick.
                lane.push(batch)
        elif batch.state is State.GATHERING:
            delay = self._batch_delay if priority is Priority.BATCH else self._gather_delay
            if now + delay < batch.due:
                # A more urgent caller shortens the gathering: re-arm the timer.
                batch.due = now + delay
                if batch.timer is not None:
                    batch.timer.cancel()
                batch.timer = lane.spawn(self._gather(lane, batch, delay))
        elif raised:
            lane.push(batch)  # re-enter the queue at the new priority (old entry is skipped)
        result: T = await self._wait(lane, waiter)
        return result

    async def spend(self, provider: str, weight: int, deadline: float | None) -> None:
        """Take ``weight`` units of ``provider``'s budget for a request made inside a call that
        is already running (it holds its worker slot, so it does not queue again): wait for
        the windows to have room, or fail when they will not before ``deadline``. These
        lookups may use the units kept back from ordinary calls; one heavier than a whole
        window raises CallTooHeavyError."""
        lane = self._lane(provider)
        too_heavy = lane.too_heavy(weight, lookup=True)
        if too_heavy is not None:
            raise too_heavy
        lane.calls += 1
        while True:
            now = self._monotonic()
            blocked = lane.blocked_until - now
            wait = (
                blocked
                if blocked > 0
                else await self._limiter.reserve(provider, weight, lookup=True)
            )
            if wait <= 0.0:
                return
            if deadline is not None and now + wait > deadline:
                raise DeadlineExceededError(provider, "no budget for a follow-up request")
            await self._sleep(wait)

    async def stats(self) -> dict[str, ProviderStats]:
        return {
            name: lane.snapshot(await self._limiter.usage(name))
            for name, lane in self._lanes.items()
        }

    # -- internals -------------------------------------------------------------------------------

    def _lane(self, provider: str) -> Lane:
        if not self._started or self._closed:
            raise PlannerError("the planner is not running (call start() first)")
        try:
            return self._lanes[provider]
        except KeyError:
            raise ConfigError(f"provider {provider!r} is not configured in the planner") from None

    def _admit(
        self, lane: Lane, priority: Priority, deadline: float | None, start_by: float | None
    ) -> Waiter:
        now = self._monotonic()
        free_at = max(lane.next_free_at, lane.blocked_until)
        if deadline is not None and start_by is not None:
            start_by = min(start_by, deadline)
        latest = start_by if start_by is not None else deadline
        if latest is not None and (latest <= now or latest < free_at):
            raise DeadlineExceededError(lane.provider, "no budget before deadline")
        if lane.queued >= lane.max_queue:
            # Full: a more urgent caller displaces the newest of the least urgent ones.
            victim = lane.evictable(priority)
            if victim is None:
                raise SaturatedError(lane.provider, lane.drain_estimate())
            lane.fail(victim, SaturatedError(lane.provider, lane.drain_estimate()))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        lane.depth[priority] += 1
        waiter = Waiter(future, priority, deadline, now, start_by=start_by)
        lane.waiters.add(waiter)
        return waiter

    async def _wait(self, lane: Lane, waiter: Waiter) -> Any:
        future = waiter.future
        try:
            if waiter.deadline is None:
                return await future  # cancelling the caller cancels the future: it leaves
            timer = asyncio.ensure_future(
                self._sleep(max(0.0, waiter.deadline - self._monotonic()))
            )
            try:
                await asyncio.wait((future, timer), return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
            waiter.reject(DeadlineExceededError(lane.provider))  # no-op if answered in time
            return future.result()
        except asyncio.CancelledError:
            future.cancel()
            raise
        finally:
            lane.unqueue(waiter)
            lane.waiters.discard(waiter)

    def _seal(self, lane: Lane, work: Work) -> None:
        work.seal()
        if isinstance(work, BatchCall) and lane.open_batches.get(work.key) is work:
            del lane.open_batches[work.key]

    async def _gather(self, lane: Lane, batch: BatchCall, delay: float) -> None:
        await self._sleep(delay)
        batch.timer = None
        if batch.state is State.GATHERING:
            if batch.alive():
                lane.push(batch)
            else:
                lane.finish(batch)

    async def _dispatch(self, lane: Lane) -> None:
        while True:
            try:
                await self._dispatch_one(lane)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug here must not silently stop a provider's queue for good.
                log.exception("planner dispatcher for %s failed; continuing", lane.provider)
                await self._sleep(0.1)

    async def _dispatch_one(self, lane: Lane) -> None:
        blocked = lane.blocked_until - self._monotonic()
        if blocked > 0:
            lane.expire_before(lane.blocked_until)
            await self._sleep(blocked)
            return
        work = lane.head(self._monotonic())
        if work is None or lane.in_flight >= lane.workers:
            lane.wake.clear()
            await lane.wake.wait()
            return
        self._seal(lane, work)  # its weight must not change between asking and sending
        weight = work.weight
        try:
            wait = await self._limiter.reserve(lane.provider, weight)
        except (ValueError, ConfigError, CallTooHeavyError) as exc:  # it can never be granted
            lane.fail(work, exc)
            return
        now = self._monotonic()
        if now < lane.blocked_until:
            return  # a 429 arrived while the limiter answered: spend the unit, send nothing
        if wait > 0.0:
            lane.next_free_at = now + wait
            lane.expire_before(lane.next_free_at)
            await self._sleep(wait)
            return
        lane.next_free_at = -math.inf
        if work.state is not State.QUEUED or not work.alive():
            # It left while the limiter answered: hand the unit to the next call if it fits.
            replacement = lane.head(now)
            if replacement is None or replacement.weight > weight:
                return
            work = replacement
            self._seal(lane, work)
        lane.dispatched(work, now)
        lane.in_flight += 1
        lane.spawn(self._execute(lane, work))

    async def _execute(self, lane: Lane, work: Work) -> None:
        lane.calls += 1
        try:
            try:
                pending = work.invoke()
                if isinstance(work, BatchCall):
                    lane.batch_sizes[work.size] += 1
                value = await pending
            except RateLimitedError as exc:
                if exc.retry_after:
                    lane.blocked_until = max(
                        lane.blocked_until, self._monotonic() + exc.retry_after
                    )
                raise
            finally:
                lane.in_flight -= 1
                lane.wake.set()
        except asyncio.CancelledError:
            lane.fail(work, PlannerError(f"{lane.provider}: planner closed"))
            raise
        except Exception as exc:
            await self._failed(lane, work, exc)
        else:
            lane.finish(work)
            work.settle(value)

    async def _failed(self, lane: Lane, work: Work, exc: Exception) -> None:
        now = self._monotonic()
        if isinstance(exc, RateLimitedError):
            lane.rate_limited += 1
            if exc.retry_after:
                # Every replica stops calling this provider, not just this call.
                await self._limiter.block_for(lane.provider, exc.retry_after)
        delay = retry_delay(exc, work.attempt, self._retry, self._rng) if work.idempotent else None
        deadline = work.deadline
        if (
            delay is None
            or not work.alive()
            or (deadline is not None and now + delay >= deadline)
            or not self._budgets[lane.provider].try_spend(now)
        ):
            lane.fail(work, exc)
            return
        work.attempt += 1
        lane.retries += 1
        work.state = State.BACKOFF
        lane.spawn(self._requeue(lane, work, delay))

    async def _requeue(self, lane: Lane, work: Work, delay: float) -> None:
        try:
            await self._sleep(delay)
        except asyncio.CancelledError:
            lane.fail(work, PlannerError(f"{lane.provider}: planner closed"))
            raise
        if work.alive():
            lane.push(work)  # same (priority, seq): it keeps its place in the queue
        else:
            lane.finish(work)


# Batch states that still accept callers (a sent or finished batch never does).
_OPEN = (State.GATHERING, State.QUEUED)
