"""Client keys over HTTP: the admin API (``/api/market/admin/keys``, admin bearer) and
``GET /api/market/usage`` (a key's own usage; the middleware has already checked the key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from marketsvc.api.auth import require_admin
from marketsvc.api.client_keys import SCOPE_KEY
from marketsvc.api.deps import ContainerDep
from marketsvc.api.schemas import ADMIN_RESPONSES, BODY_RESPONSES, problem_response
from marketsvc.domain import Priority
from marketsvc.keys import (
    ClientKey,
    IssuedKey,
    UsageRow,
    key_view,
    parse_limit,
    parse_scopes,
)

router = APIRouter(prefix="/api/market", tags=["client keys"])
admin = APIRouter(
    prefix="/api/market/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=ADMIN_RESPONSES,
)

KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="the key's id")]
Days = Annotated[int, Query(ge=1, le=366, description="UTC days back, today included")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem_response("No key with this id (or, to rotate, a revoked one)")
}


class KeyCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default=["read"], description="read and/or admin")
    limit: str | None = Field(default=None, description="one window, e.g. 60/minute")
    quota: str | None = Field(default=None, description="one longer window, e.g. 10000/day")
    expires_at: datetime | None = Field(default=None, description="ISO 8601; UTC if no offset")
    priority: str | None = Field(
        default=None, description="planner priority of this key's upstream calls: HIGH..BATCH"
    )

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        return sorted(s.value for s in parse_scopes(value))

    @field_validator("limit", "quota")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        limit = parse_limit(value, "a limit")
        return str(limit) if limit else None

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip().upper()
        # URGENT is the service's own (health probes, refresh-after-failure), never a client's.
        if name not in Priority.__members__ or name == "URGENT":
            raise ValueError("priority is one of HIGH, MEDIUM, LOW, BATCH")
        return name


class KeyView(BaseModel):
    id: str
    prefix: str
    name: str
    scopes: list[str]
    limit: str | None
    quota: str | None
    priority: str | None
    status: str = Field(description="active, revoked or expired")
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    rotated_at: str | None
    last_used_at: str | None


class IssuedKeyView(KeyView):
    key: str = Field(description="the key itself: shown in this answer only, stored nowhere")


class KeyList(BaseModel):
    keys: list[KeyView]


def _issued(issued: IssuedKey, status: int) -> JSONResponse:
    body = {**key_view(issued.record, issued.record.created_at), "key": issued.key}
    # The key must not linger in any cache between here and the client.
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def usage_body(rows: list[UsageRow], days: int) -> dict[str, Any]:
    fields = ("requests", "errors", "cache_hits", "upstream_calls", "bytes")
    totals = {f: sum(getattr(r, f) for r in rows) for f in fields}
    return {"days": days, "totals": totals, "rows": [r.as_dict() for r in rows]}


@admin.get("/keys", response_model=KeyList, summary="Every client key (never the keys themselves)")
async def list_keys(container: ContainerDep) -> dict[str, Any]:
    now = datetime.now(UTC).timestamp()
    return {"keys": [key_view(k, now) for k in await container.keys.all()]}


@admin.post(
    "/keys",
    status_code=201,
    response_model=IssuedKeyView,
    responses=BODY_RESPONSES,
    summary="Create a client key; the answer is the only place the key is ever shown",
)
async def create_key(body: KeyCreateRequest, container: ContainerDep) -> JSONResponse:
    expires = body.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    issued = await container.keys.create(
        body.name,
        scopes=parse_scopes(body.scopes),
        rate_limit=parse_limit(body.limit, "limit"),
        quota=parse_limit(body.quota, "quota"),
        expires_at=expires.timestamp() if expires is not None else None,
        priority=Priority[body.priority] if body.priority else None,
    )
    return _issued(issued, 201)


@admin.delete(
    "/keys/{key_id}", response_model=KeyView, responses=_NOT_FOUND, summary="Revoke a client key"
)
async def revoke_key(key_id: KeyId, container: ContainerDep) -> dict[str, Any]:
    record = await container.keys.revoke(key_id)
    if record is None:
        raise HTTPException(404, f"no client key with id {key_id}")
    return key_view(record, datetime.now(UTC).timestamp())


@admin.post(
    "/keys/{key_id}/rotate",
    response_model=IssuedKeyView,
    responses=_NOT_FOUND,
    summary="A new secret for the same key id; the old key is refused from now on",
)
async def rotate_key(key_id: KeyId, container: ContainerDep) -> JSONResponse:
    issued = await container.keys.rotate(key_id)
    if issued is None:
        raise HTTPException(404, f"no active client key with id {key_id}")
    return _issued(issued, 200)


@admin.get("/usage", summary="Usage of every client key per UTC day and endpoint")
async def all_usage(container: ContainerDep, days: Days = 7) -> dict[str, Any]:
    return usage_body(await container.keys.usage(None, days), days)


@router.get(
    "/usage",
    summary="The calling key's own usage per UTC day and endpoint (refused requests included)",
    responses={401: problem_response("No valid client key presented")},
)
async def own_usage(request: Request, container: ContainerDep, days: Days = 7) -> dict[str, Any]:
    record: ClientKey = request.scope[SCOPE_KEY]
    body = usage_body(await container.keys.usage(record.id, days), days)
    return {"key": record.prefix, **body}
