"""The emulator's moving parts shared by every emulated provider: clock, call log, limits
enforced with each provider's own throttle answer, and injectable faults.

A provider emulator (one module per vendor) subclasses :class:`ProviderEmulator`, lists its
routes at the vendor's real paths and says how the vendor throttles; ``app.py`` mounts each at
``/<name>`` so ``http://host/<name><real base path>`` stands in for the vendor's base URL.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from marketsvc.domain import RateLimit

Handler = Callable[[Request], Awaitable[Response]]

# Query parameters and headers that carry a key: never written to the call log.
SECRET_PARAMS = frozenset(
    {"apikey", "token", "x_cg_demo_api_key", "x_cg_pro_api_key", "cmc_pro_api_key", "crumb"}
)


@dataclass(slots=True)
class Fault:
    """One injected fault. ``count`` None = until cleared."""

    kind: str  # latency | error | hang | malformed | throttle | diverge
    count: int | None = None
    seconds: float = 0.0
    status: int = 503
    factor: float = 1.0


@dataclass(frozen=True, slots=True)
class CallRecord:
    provider: str
    path: str
    query: dict[str, str]
    ts: float
    weight: int
    status: int
    throttled: bool
    over_limit: bool


@dataclass(slots=True)
class ProviderState:
    limits: tuple[RateLimit, ...]
    log: deque[tuple[float, int]] = field(default_factory=deque)  # (ts, weight) accepted
    faults: list[Fault] = field(default_factory=list)
    blocked_until: float = 0.0
    calls: int = 0
    throttled: int = 0
    over_limit: int = 0


class SandboxState:
    """Everything the emulator remembers; one per emulator app."""

    def __init__(self, clock: Callable[[], float] = time.time, max_log: int = 100_000) -> None:
        self._clock = clock
        self.offset = 0.0
        self.providers: dict[str, ProviderState] = {}
        self.calls: deque[CallRecord] = deque(maxlen=max_log)

    def now(self) -> float:
        return self._clock() + self.offset

    def provider(self, name: str) -> ProviderState:
        return self.providers[name]

    def price_factor(self, name: str) -> float:
        factor = 1.0
        for fault in self.providers[name].faults:
            if fault.kind == "diverge":
                factor *= fault.factor
        return factor

    def admit(self, name: str, weight: int) -> tuple[bool, float]:
        """Record a call of ``weight``; (True, 0) if within every sliding window, else
        (False, seconds until it would fit). Calls over the limit are counted, not admitted."""
        st = self.providers[name]
        now = self.now()
        longest = max((lim.window for lim in st.limits), default=0.0)
        while st.log and st.log[0][0] <= now - longest:
            st.log.popleft()
        if now < st.blocked_until:
            return False, st.blocked_until - now
        wait = 0.0
        for lim in st.limits:
            used = 0
            oldest_needed = now
            for ts, w in reversed(st.log):
                if ts <= now - lim.window:
                    break
                used += w
                if used + weight > lim.limit:
                    oldest_needed = ts
                    break
            if used + weight > lim.limit:
                wait = max(wait, oldest_needed + lim.window - now)
        if wait > 0:
            return False, wait
        st.log.append((now, weight))
        return True, 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            name: {
                "limits": [str(lim) for lim in st.limits],
                "calls": st.calls,
                "throttled": st.throttled,
                "over_limit": st.over_limit,
                "faults": [asdict(f) for f in st.faults],
                "blocked_for": max(0.0, st.blocked_until - self.now()),
            }
            for name, st in self.providers.items()
        }


class ProviderEmulator:
    """Base of one emulated vendor. Subclasses set ``name``, ``default_limits`` and implement
    ``routes()`` and ``throttled()``; override ``weight()`` where the vendor weighs requests."""

    name: ClassVar[str]
    default_limits: ClassVar[str]

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def throttled(self, request: Request, retry_after: float) -> Response:
        """The vendor's own "too many requests" answer."""
        return JSONResponse(
            {"error": "rate limited"},
            status_code=429,
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )

    def server_error(self, request: Request, status: int) -> Response:
        return JSONResponse({"error": "synthetic upstream failure"}, status_code=status)

    def weight(self, request: Request) -> int:
        return 1

    def decorate(self, request: Request, response: Response) -> Response:
        """Hook for headers every answer carries (e.g. Binance's used-weight header)."""
        return response

    # Helpers for handlers ------------------------------------------------------------
    def now(self) -> float:
        return self.state.now()

    def factor(self) -> float:
        return self.state.price_factor(self.name)

    def route(self, path: str, handler: Handler) -> Route:
        return Route(path, self._wrap(handler), methods=["GET"])

    def _wrap(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            return await self._serve(request, handler)

        return endpoint

    async def _serve(self, request: Request, handler: Handler) -> Response:
        st = self.state.provider(self.name)
        st.calls += 1
        weight = self.weight(request)
        fault = self._take_fault(st)
        if fault is not None and fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
        admitted, wait = self.state.admit(self.name, weight)
        response: Response
        throttled = False
        if not admitted:
            st.over_limit += 1
            st.throttled += 1
            throttled = True
            response = self.throttled(request, wait)
        elif fault is not None and fault.kind == "throttle":
            st.throttled += 1
            throttled = True
            response = self.throttled(request, fault.seconds or 1.0)
            if fault.seconds:
                st.blocked_until = max(st.blocked_until, self.now() + fault.seconds)
        elif fault is not None and fault.kind == "error":
            response = self.server_error(request, fault.status)
        elif fault is not None and fault.kind == "hang":
            await asyncio.sleep(fault.seconds or 3600.0)
            response = self.server_error(request, 504)
        elif fault is not None and fault.kind == "malformed":
            response = Response(b'{"truncated": [1, 2', media_type="application/json")
        else:
            response = await handler(request)
        response = self.decorate(request, response)
        self.state.calls.append(
            CallRecord(
                provider=self.name,
                path=request.url.path,
                query={
                    k: ("***" if k.lower() in SECRET_PARAMS else v)
                    for k, v in request.query_params.items()
                },
                ts=self.now(),
                weight=weight,
                status=response.status_code,
                throttled=throttled,
                over_limit=not admitted,
            )
        )
        return response

    @staticmethod
    def _take_fault(st: ProviderState) -> Fault | None:
        for fault in st.faults:
            if fault.kind == "diverge":
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    st.faults.remove(fault)
            return fault
        return None


def qp(request: Request, name: str, default: str | None = None) -> str | None:
    """A query parameter, looked up case-sensitively as the vendors do."""
    return request.query_params.get(name, default)
