"""The upstream emulator as one ASGI app: every emulated vendor mounted at ``/<name>``, plus a
small control API at ``/_control`` (call log, limits, faults, clock) for tests and benches.

``SANDBOX=true`` routes every adapter to this app in-process (httpx ASGI transport);
``marketsvc sandbox --port P`` serves it for other processes.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from marketsvc.config import DEFAULT_BASE_URLS, PROVIDER_NAMES
from marketsvc.domain import RateLimit
from marketsvc.sandbox._framework import Fault, ProviderEmulator, ProviderState, SandboxState
from marketsvc.sandbox._stream_routes import stream_routes
from marketsvc.sandbox.streams import StreamEmulator

FAULT_KINDS = frozenset({"latency", "error", "hang", "malformed", "throttle", "diverge"})


def _load_emulators(state: SandboxState) -> list[ProviderEmulator]:
    emulators: list[ProviderEmulator] = []
    for name in PROVIDER_NAMES:
        module = importlib.import_module(f"marketsvc.sandbox.{name}")
        emulators.append(module.Emulator(state))
    return emulators


def sandbox_base_url(root: str, provider: str) -> str:
    """The base URL that stands in for ``provider``'s real one on an emulator at ``root``."""
    real_path = urlsplit(DEFAULT_BASE_URLS[provider]).path
    return f"{root.rstrip('/')}/{provider}{real_path}"


def create_sandbox_app(
    state: SandboxState | None = None, limits: dict[str, str] | None = None
) -> Starlette:
    """Build the emulator. ``limits`` overrides a vendor's enforced limits
    (e.g. ``{"binance": "4/second"}``); otherwise each vendor's real free-tier limits apply."""
    state = state or SandboxState()
    emulators = _load_emulators(state)
    for emu in emulators:
        spec = (limits or {}).get(emu.name, emu.default_limits)
        state.providers[emu.name] = ProviderState(limits=RateLimit.parse_many(spec))
    streams = StreamEmulator(state)
    routes: list[Route | Mount | WebSocketRoute] = [
        *stream_routes(streams),
        Route("/_control/calls", _calls, methods=["GET"]),
        Route("/_control/stats", _stats, methods=["GET"]),
        Route("/_control/faults", _add_fault, methods=["POST"]),
        Route("/_control/faults", _clear_faults, methods=["DELETE"]),
        Route("/_control/limits", _set_limits, methods=["POST"]),
        Route("/_control/clock", _clock, methods=["POST", "GET"]),
        Route("/_control/reset", _reset, methods=["POST"]),
    ]
    routes += [Mount(f"/{emu.name}", routes=emu.routes()) for emu in emulators]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    app.state.streams = streams  # the stream emulator; Binance's REST depth reads its books
    return app


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _bad(detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=400)


async def _calls(request: Request) -> Response:
    state = _state(request)
    provider = request.query_params.get("provider")
    since = float(request.query_params.get("since", "0") or 0)
    rows = [
        {
            "provider": c.provider,
            "path": c.path,
            "query": c.query,
            "ts": c.ts,
            "weight": c.weight,
            "status": c.status,
            "throttled": c.throttled,
            "over_limit": c.over_limit,
        }
        for c in state.calls
        if (provider is None or c.provider == provider) and c.ts >= since
    ]
    return JSONResponse({"calls": rows, "count": len(rows)})


async def _stats(request: Request) -> Response:
    return JSONResponse(_state(request).snapshot())


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _add_fault(request: Request) -> Response:
    state = _state(request)
    body = await _json(request)
    provider, kind = body.get("provider"), body.get("kind")
    if provider not in state.providers or kind not in FAULT_KINDS:
        return _bad(
            f"provider must be one of {sorted(state.providers)}, kind one of {sorted(FAULT_KINDS)}"
        )
    fault = Fault(
        kind=kind,
        count=int(body["count"]) if body.get("count") is not None else None,
        seconds=float(body.get("seconds", 0.0)),
        status=int(body.get("status", 503)),
        factor=float(body.get("factor", 1.0)),
    )
    state.providers[provider].faults.append(fault)
    return JSONResponse({"ok": True})


async def _clear_faults(request: Request) -> Response:
    state = _state(request)
    provider = request.query_params.get("provider")
    for name, st in state.providers.items():
        if provider in (None, name):
            st.faults.clear()
            st.blocked_until = 0.0
    return JSONResponse({"ok": True})


async def _set_limits(request: Request) -> Response:
    state = _state(request)
    body = await _json(request)
    provider = body.get("provider")
    if provider not in state.providers:
        return _bad("unknown provider")
    try:
        state.providers[provider].limits = RateLimit.parse_many(str(body.get("limits", "")))
    except ValueError as exc:
        return _bad(str(exc))
    state.providers[provider].log.clear()
    return JSONResponse({"ok": True})


async def _clock(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        body = await _json(request)
        state.offset += float(body.get("advance", 0.0))
    return JSONResponse({"now": state.now(), "offset": state.offset})


async def _reset(request: Request) -> Response:
    state = _state(request)
    state.calls.clear()
    for st in state.providers.values():
        st.log.clear()
        st.faults.clear()
        st.blocked_until = 0.0
        st.calls = st.throttled = st.over_limit = 0
    return JSONResponse({"ok": True})
