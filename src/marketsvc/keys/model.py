"""What a client key is, inside the service: a frozen record (never the key itself), and the
reasons a presented key can be refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from marketsvc.domain import Priority, RateLimit, iso_z
from marketsvc.keys.hashing import prefix_of


class Scope(StrEnum):
    READ = "read"  # the data endpoints and /usage
    ADMIN = "admin"  # the admin endpoints, like the ADMIN_TOKEN


class Refusal(StrEnum):
    """Why a request's key was not accepted; the API maps these to 401 / 403."""

    MISSING = "missing"  # no key presented where one is required
    INVALID = "invalid"  # not a key of ours (unknown id, wrong secret, rotated away)
    REVOKED = "revoked"
    EXPIRED = "expired"
    SCOPE = "scope"  # a valid key without the scope the endpoint needs


@dataclass(frozen=True, slots=True)
class ClientKey:
    """One client key's record. ``id`` is public (it is the ``msk_<id>`` prefix of the key);
    ``key_hash`` is the SHA-256 of the whole key."""

    id: str
    name: str
    key_hash: str
    scopes: frozenset[Scope]
    rate_limit: RateLimit | None
    quota: RateLimit | None
    priority: Priority | None
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    rotated_at: float | None = None
    last_used_at: float | None = None

    @property
    def prefix(self) -> str:
        return prefix_of(self.id)

    # Every window this key is held to, shortest first (limit and quota alike); computed once,
    # since the request path reads it on every request.
    limits: tuple[RateLimit, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        found = [lim for lim in (self.rate_limit, self.quota) if lim is not None]
        object.__setattr__(self, "limits", tuple(sorted(found, key=lambda lim: lim.window)))

    def refusal(self, now: float, scope: Scope) -> Refusal | None:
        """Why this (correctly presented) key may not be used now for ``scope``, or None."""
        if self.revoked_at is not None:
            return Refusal.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return Refusal.EXPIRED
        if scope not in self.scopes:
            return Refusal.SCOPE
        return None


def parse_limit(text: str | None, what: str) -> RateLimit | None:
    """One ``N/unit`` window (``60/minute``), or None for none; ValueError in words."""
    if text is None or not text.strip():
        return None
    limits = RateLimit.parse_many(text)
    if len(limits) != 1:
        raise ValueError(f"{what} takes one N/unit window (e.g. 60/minute), not {text!r}")
    return limits[0]


def parse_scopes(values: list[str] | tuple[str, ...]) -> frozenset[Scope]:
    try:
        scopes = frozenset(Scope(v.strip().lower()) for v in values if v.strip())
    except ValueError:
        raise ValueError(f"scopes are {' and '.join(s.value for s in Scope)}") from None
    if not scopes:
        raise ValueError("a key needs at least one scope (read, admin)")
    return scopes


def key_view(record: ClientKey, now: float) -> dict[str, Any]:
    """What the admin API and the CLI show of a key (never the key or its hash)."""
    status = "active"
    if record.revoked_at is not None:
        status = "revoked"
    elif record.expires_at is not None and now >= record.expires_at:
        status = "expired"
    return {
        "id": record.id,
        "prefix": record.prefix,
        "name": record.name,
        "scopes": sorted(s.value for s in record.scopes),
        "limit": str(record.rate_limit) if record.rate_limit else None,
        "quota": str(record.quota) if record.quota else None,
        "priority": record.priority.name if record.priority is not None else None,
        "status": status,
        "created_at": _iso(record.created_at),
        "expires_at": _iso(record.expires_at),
        "revoked_at": _iso(record.revoked_at),
        "rotated_at": _iso(record.rotated_at),
        "last_used_at": _iso(record.last_used_at),
    }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso_z(datetime.fromtimestamp(ts, UTC))
