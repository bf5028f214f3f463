"""The admin guard: ``Authorization: Bearer $ADMIN_TOKEN``, compared in constant time.

No token configured → 403 for everyone (admin is off); a missing or wrong token → 401.
Every admitted admin call is audit-logged (who, what; never the token).
"""

from __future__ import annotations

import hmac
import logging

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from marketsvc.api.client_keys import SCOPE_KEY
from marketsvc.api.deps import container_of

audit = logging.getLogger("marketsvc.audit")

# Declares the scheme in OpenAPI (securitySchemes, per-operation security, Swagger's Authorize
# button). auto_error=False: this guard decides the status itself (403 before 401, below).
admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="adminBearer", description="the service's ADMIN_TOKEN"
)


async def require_admin(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(admin_bearer),
) -> None:
    settings = container_of(request).settings
    client_key = request.scope.get(SCOPE_KEY)
    if client_key is not None:
        # ClientKeyMiddleware admits a key on an admin path only with the admin scope.
        audit.info(
            "admin call",
            extra={
                "audit": True,
                "method": request.method,
                "path": request.url.path,
                "key": client_key.prefix,
            },
        )
        return
    if settings.admin_token is None:
        raise HTTPException(403, "admin endpoints are disabled (no ADMIN_TOKEN configured)")
    token = credentials.credentials.strip() if credentials is not None else ""
    expected = settings.admin_token.get_secret_value().encode()
    if credentials is None or not hmac.compare_digest(token.encode(), expected):
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
