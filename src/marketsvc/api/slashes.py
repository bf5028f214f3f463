"""Trailing-slash tolerance without redirects.

Starlette's ``redirect_slashes`` answered ``/api/market/health/`` with ``307 Location:
http://<Host header>/api/market/health``: the redirect took its host from the request, so a
forged ``Host`` made the service point clients anywhere. The app now has ``redirect_slashes``
off, and this middleware routes ``/path/`` as ``/path`` instead: the same resource, no
``Location`` at all.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class StripTrailingSlashMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                raw: bytes | None = scope.get("raw_path")
                if raw is not None:
                    scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
