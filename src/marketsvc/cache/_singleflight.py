"""In-process request coalescing (Go's singleflight, nginx ``proxy_cache_lock``).

Concurrent callers for one key share one execution. The work runs in its own task, not in the
first caller: a first caller that is cancelled (client went away) must not fail the hundreds of
callers waiting on the same load. ``claim``/``settle`` let a batch register several keys it is
about to load, so single-key callers join the batch instead of loading again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _consume(fut: asyncio.Future[Any]) -> None:
    # Mark the exception retrieved: when every waiter was cancelled nobody else reads it, and
    # asyncio would log "exception was never retrieved".
    if not fut.cancelled():
        fut.exception()


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Future[V]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.coalesced = 0  # callers that joined a flight instead of starting one

    def __contains__(self, key: K) -> bool:
        return key in self._pending

    def claim(self, key: K) -> asyncio.Future[V] | None:
        """Register a flight for ``key`` that the caller will ``settle``; ``None`` if one is
        already pending."""
        if key in self._pending:
            return None
        fut: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume)
        self._pending[key] = fut
        return fut

    def settle(
        self,
        key: K,
        fut: asyncio.Future[V],
        value: V | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Finish a claimed flight. Removed from the table first, so a caller arriving after
        this point starts afresh (and finds the value the flight wrote to the cache)."""
        if self._pending.get(key) is fut:
            del self._pending[key]
        if fut.done():
            return
        if isinstance(error, asyncio.CancelledError):
            fut.cancel()
        elif error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)  # type: ignore[arg-type]

    def join(self, key: K) -> asyncio.Future[V] | None:
        """The pending flight for ``key`` to await (through ``asyncio.shield``), if any."""
        fut = self._pending.get(key)
        if fut is not None:
            self.coalesced += 1
        return fut

    async def do(self, key: K, fn: Callable[[], Awaitable[V]]) -> V:
        """Run ``fn`` once for all concurrent callers with the same ``key``."""
        fut = self._pending.get(key)
        if fut is not None:
            self.coalesced += 1
            return await asyncio.shield(fut)
        fut = self.claim(key)
        assert fut is not None
        task = asyncio.create_task(self._drive(key, fut, fn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(fut)

    async def _drive(self, key: K, fut: asyncio.Future[V], fn: Callable[[], Awaitable[V]]) -> None:
        try:
            value = await fn()
        except Exception as exc:
            self.settle(key, fut, error=exc)
            return
        except BaseException as exc:  # cancellation (aclose) or interpreter exit: pass it on
            self.settle(key, fut, error=exc)
            raise
        self.settle(key, fut, value)

    async def aclose(self) -> None:
        """Cancel every flight still running (their waiters see CancelledError)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for key, fut in list(self._pending.items()):
            self.settle(key, fut, error=asyncio.CancelledError())
