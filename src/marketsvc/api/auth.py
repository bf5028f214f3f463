"""The admin guard: ``Authorization: Bearer $ADMIN_TOKEN``, compared in constant time.

No token configured → 403 for everyone (admin is off); a missing or wrong token → 401.
Every admitted admin call is audit-logged (who, what; never the token).
"""

from __future__ import annotations

import hmac
import logging

from fastapi import HTTPException, Request

from marketsvc.api.deps import container_of

audit = logging.getLogger("marketsvc.audit")


async def require_admin(request: Request) -> None:
    settings = container_of(request).settings
    if settings.admin_token is None:
        raise HTTPException(403, "admin endpoints are disabled (no ADMIN_TOKEN configured)")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = settings.admin_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(
            401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    audit.info(
        "admin call",
        extra={
            "audit": True,
            "method": request.method,
            "path": request.url.path,
            "client": request.client.host if request.client else None,
        },
    )
