"""Client API keys: issued once, stored as a hash, held in memory on every replica, limited
with the planner's sliding windows, and metered per key, day and endpoint.

Public names: :class:`KeyService` (and :func:`open_key_service`), :class:`IssuedKey`,
:class:`ClientKey`, :class:`Scope`, :class:`Refusal`, :class:`Admission`,
:class:`UsageRow`, :class:`UsageCollector`, :func:`parse_limit`, :func:`parse_scopes`,
:func:`looks_like_key`.
"""

from marketsvc.keys.hashing import looks_like_key
from marketsvc.keys.limits import Admission
from marketsvc.keys.metering import UsageCollector, UsageRow
from marketsvc.keys.model import (
    ClientKey,
    Refusal,
    Scope,
    key_view,
    parse_limit,
    parse_scopes,
)
from marketsvc.keys.service import IssuedKey, KeyService, open_key_service
from marketsvc.keys.store import KeyStoreError

__all__ = [
    "Admission",
    "ClientKey",
    "IssuedKey",
    "KeyService",
    "KeyStoreError",
    "Refusal",
    "Scope",
    "UsageCollector",
    "UsageRow",
    "key_view",
    "looks_like_key",
    "open_key_service",
    "parse_limit",
    "parse_scopes",
]
