"""``/dashboard``: server-rendered pages (public, read-only, like /stats), a live stream of
the monitor's snapshots over SSE, and the admin actions (login, logout, clear a cache entry),
which need the session cookie and its CSRF token.

Actions take JSON (the service's body rule for every POST) sent by the page's script with the
``X-CSRF-Token`` header. Pages carry a strict Content-Security-Policy: scripts and styles only
from this origin, no inline script, no other host.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sse_starlette import EventSourceResponse, ServerSentEvent

from marketsvc.api.deps import container_of
from marketsvc.dashboard import views
from marketsvc.dashboard.session import (
    COOKIE,
    CSRF_HEADER,
    MAX_AGE,
    RevokedNonces,
    Session,
    SessionSigner,
    csrf_ok,
)
from marketsvc.domain import DataType
from marketsvc.monitor import Monitor

audit = logging.getLogger("marketsvc.audit")

PREFIX = "/dashboard"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
MAX_STREAMS = 50  # live dashboard tabs per process; each holds one connection


class Dashboard:
    """Per-app state: the template environment, revoked sessions, open streams."""

    def __init__(self, templates: Jinja2Templates) -> None:
        self.templates = templates
        self.revoked = RevokedNonces()
        self.streams = 0


def build_router(dash: Dashboard) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def signer(request: Request) -> SessionSigner | None:
        token = container_of(request).settings.admin_token
        return SessionSigner(token.get_secret_value()) if token is not None else None

    def session_of(request: Request) -> Session | None:
        s = signer(request)
        return s.verify(request.cookies.get(COOKIE), dash.revoked) if s else None

    async def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        container = container_of(request)
        monitor: Monitor = request.state.monitor
        session = session_of(request)
        response = dash.templates.TemplateResponse(
            request,
            f"{name}.html",
            {
                "page": name,
                "session": session,
                "admin_enabled": container.settings.admin_token is not None,
                "sandbox": container.settings.sandbox,
                "snapshot": monitor.snapshot(),
                "alerts": monitor.book.snapshot(),
                **context,
            },
        )
        response.headers.update(SECURITY_HEADERS)
        return response

    def refuse(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"status": status, "detail": detail}, status_code=status)

    async def require_session(request: Request) -> Session:
        """The guard of every dashboard action (tests/api/test_admin_guard.py looks for it)."""
        session = session_of(request)
        if session is None:
            raise HTTPException(401, "log in first (the admin token opens a session)")
        if not csrf_ok(session, request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, "missing or wrong CSRF token")
        return session

    @router.get("")
    async def overview(request: Request) -> HTMLResponse:
        return await page(request, "overview", stats=await views.overview(container_of(request)))

    @router.get("/providers")
    async def providers(request: Request) -> HTMLResponse:
        rows = await views.providers(container_of(request))
        return await page(request, "providers", providers=rows)

    @router.get("/cache")
    async def cache(request: Request) -> HTMLResponse:
        data = await views.cache(container_of(request))
        return await page(request, "cache", cache=data, data_types=[d.value for d in DataType])

    @router.get("/scheduler")
    async def scheduler(request: Request) -> HTMLResponse:
        return await page(request, "scheduler", scheduler=views.scheduler(container_of(request)))

    @router.get("/alerts")
    async def alerts(request: Request) -> HTMLResponse:
        return await page(request, "alerts")

    @router.get("/login")
    async def login_page(request: Request) -> HTMLResponse:
        return await page(request, "login")

    @router.get("/snapshot")
    async def snapshot(request: Request) -> Response:
        monitor: Monitor = request.state.monitor
        return Response(orjson.dumps(monitor.snapshot()), media_type="application/json")

    @router.get("/events")
    async def events(request: Request) -> Response:
        if dash.streams >= MAX_STREAMS:
            return refuse(503, "too many live dashboards open on this replica")
        monitor: Monitor = request.state.monitor

        async def stream() -> AsyncIterator[ServerSentEvent]:
            dash.streams += 1
            try:
                seen = -1
                while not await request.is_disconnected():
                    if monitor.version != seen:
                        seen = monitor.version
                        data = orjson.dumps(monitor.snapshot()).decode()
                        yield ServerSentEvent(data=data, event="snapshot", id=str(seen))
                    await monitor.wait_for_change(seen, patience=5.0)
            finally:
                dash.streams -= 1

        return EventSourceResponse(stream(), ping=15, headers={"cache-control": "no-store"})

    @router.post("/login")
    async def login(request: Request) -> Response:
        container = container_of(request)
        s = signer(request)
        if s is None or container.settings.admin_token is None:
            return refuse(403, "admin is disabled (no ADMIN_TOKEN configured)")
        body = await _json(request)
        presented = str(body.get("token", "")).strip().encode()
        expected = container.settings.admin_token.get_secret_value().encode()
        if not hmac.compare_digest(presented, expected):
            audit.warning("dashboard login refused", extra={"audit": True, **_who(request)})
            return refuse(401, "wrong admin token")
        cookie, session = s.issue()
        audit.info("dashboard login", extra={"audit": True, **_who(request)})
        response = JSONResponse({"ok": True, "csrf": session.csrf})
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=MAX_AGE,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    async def logout(request: Request, session: Session = Depends(require_session)) -> Response:
        dash.revoked.add(session.nonce)
        audit.info("dashboard logout", extra={"audit": True, **_who(request)})
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    @router.post("/cache/clear")
    async def clear(request: Request, _: Session = Depends(require_session)) -> Response:
        body = await _json(request)
        try:
            data_type = DataType(body["data_type"]) if body.get("data_type") else None
        except ValueError:
            return refuse(422, "unknown data_type")
        symbol = str(body.get("symbol") or "").strip() or None
        if symbol is None and data_type is None:
            return refuse(422, "name a symbol or a data type to clear")
        if symbol is not None:
            symbol = symbol.rpartition(":")[2]  # top symbols read "crypto:BTC"
        cleared = await container_of(request).orchestrator.invalidate(data_type, symbol)
        audit.info(
            "dashboard cache clear",
            extra={"audit": True, "symbol": symbol, "data_type": body.get("data_type")},
        )
        return JSONResponse({"cleared": cleared})

    return router


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _who(request: Request) -> dict[str, Any]:
    return {"path": request.url.path, "client": request.client.host if request.client else None}
