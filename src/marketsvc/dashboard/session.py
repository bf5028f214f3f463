"""The dashboard's admin session: ADMIN_TOKEN exchanged once for a signed cookie.

The cookie is ``issued.nonce.signature`` (HMAC-SHA256 under a key derived from ADMIN_TOKEN), so
every replica accepts it without shared state and changing ADMIN_TOKEN ends every session. It
is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it) and Secure
behind https. Each action also carries a CSRF token, derived from the session's nonce, in the
``X-CSRF-Token`` header; the page gets it in a meta tag. Logout clears the cookie and revokes
its nonce in this process (a stolen copy still expires after ``MAX_AGE``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass

COOKIE = "marketsvc_dashboard"
CSRF_HEADER = "x-csrf-token"
MAX_AGE = 8 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    issued: int
    csrf: str


class SessionSigner:
    def __init__(self, admin_token: str) -> None:
        self._key = hashlib.sha256(b"marketsvc-dashboard-session\0" + admin_token.encode()).digest()

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def issue(self, now: float | None = None) -> tuple[str, Session]:
        issued = int(now if now is not None else time.time())
        nonce = secrets.token_urlsafe(16)
        body = f"{issued}.{nonce}"
        return f"{body}.{self._sign(body)}", self._session(nonce, issued)

    def _session(self, nonce: str, issued: int) -> Session:
        return Session(nonce, issued, self._sign(f"csrf:{nonce}"))

    def verify(
        self, cookie: str | None, revoked: RevokedNonces, now: float | None = None
    ) -> Session | None:
        if not cookie or cookie.count(".") != 2:
            return None
        issued_s, nonce, signature = cookie.split(".")
        if not issued_s.isdigit() or not hmac.compare_digest(
            signature, self._sign(f"{issued_s}.{nonce}")
        ):
            return None
        issued = int(issued_s)
        if (now if now is not None else time.time()) - issued > MAX_AGE or nonce in revoked:
            return None
        return self._session(nonce, issued)


class RevokedNonces:
    """Nonces of logged-out sessions (bounded; the oldest fall out long after expiry)."""

    def __init__(self, keep: int = 10_000) -> None:
        self._order: deque[str] = deque(maxlen=keep)
        self._set: set[str] = set()

    def add(self, nonce: str) -> None:
        if len(self._order) == self._order.maxlen:
            self._set.discard(self._order[0])
        self._order.append(nonce)
        self._set.add(nonce)

    def __contains__(self, nonce: object) -> bool:
        return nonce in self._set


def csrf_ok(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(session.csrf, presented)
