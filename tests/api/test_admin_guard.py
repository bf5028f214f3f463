"""Walks the app's routes: every state-changing route must carry the admin guard, except the
two public data envelopes. A new admin route added without the guard fails here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute

from marketsvc.api.auth import require_admin
from marketsvc.app import create_app
from marketsvc.config import Settings

# The dashboard's login is where the admin token is exchanged for a session.
PUBLIC_POSTS = {"/api/market/market-data", "/api/market/market-data/batch", "/dashboard/login"}


def _guarded(route: APIRoute, inherited: list[Any]) -> bool:
    calls = [dep.call for dep in route.dependant.dependencies]
    calls += [getattr(d, "dependency", None) for d in inherited]
    # Dashboard actions are guarded by the admin session (cookie + CSRF token) instead.
    session_guard = route.path.startswith("/dashboard/") and any(
        getattr(c, "__name__", "") == "require_session" for c in calls
    )
    return require_admin in calls or session_guard


def _walk(routes: list[Any], inherited: list[Any]) -> Iterator[tuple[APIRoute, list[Any]]]:
    """Flatten included routers (FastAPI keeps them as nested objects)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route, inherited
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            extra = list(getattr(context, "dependencies", []) or [])
            yield from _walk(route.original_router.routes, inherited + extra)
        elif hasattr(route, "routes"):
            yield from _walk(list(route.routes), inherited)


def test_every_non_get_route_is_admin_guarded_or_public_data() -> None:
    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    checked = 0
    for route, inherited in _walk(list(app.routes), []):
        if route.methods <= {"GET", "HEAD"}:
            continue
        checked += 1
        if route.path in PUBLIC_POSTS:
            assert not _guarded(route, inherited)
        else:
            assert _guarded(route, inherited), f"{route.path} changes state but has no admin guard"
    assert checked >= 4
