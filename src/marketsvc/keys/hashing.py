"""Making and recognising client keys; the only place a key exists in clear.

A key is ``msk_<id>_<secret>``: ``id`` is 12 hex characters (public: lookups, logs, metrics),
``secret`` 32 random bytes in URL-safe base64. The store keeps ``sha256(key)`` only.

Why a plain SHA-256 and not HMAC with a server pepper, or bcrypt/argon2: the key carries 256
random bits, so nobody can guess it from a leaked hash whatever the hash's speed; slow hashes
exist for low-entropy passwords and would cost milliseconds on every cache miss. A pepper would
add a secret to manage whose loss invalidates every key, and protects nothing more here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "msk_"
ID_LENGTH = 12
_SECRET_BYTES = 32
# msk_ + id + _ + 43 base64 characters.
KEY_LENGTH = len(KEY_PREFIX) + ID_LENGTH + 1 + 43


def prefix_of(key_id: str) -> str:
    """The public prefix of every key with this id (what logs and metrics show)."""
    return f"{KEY_PREFIX}{key_id}"


def new_id() -> str:
    return secrets.token_hex(ID_LENGTH // 2)


def new_key(key_id: str) -> str:
    return f"{prefix_of(key_id)}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def id_of(presented: str) -> str | None:
    """The id inside something that looks like one of our keys, else None (cheap: no hash)."""
    if len(presented) != KEY_LENGTH or not presented.startswith(KEY_PREFIX):
        return None
    key_id = presented[len(KEY_PREFIX) : len(KEY_PREFIX) + ID_LENGTH]
    if presented[len(KEY_PREFIX) + ID_LENGTH] != "_":
        return None
    return key_id


def matches(presented: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(presented), key_hash)


def looks_like_key(value: str) -> bool:
    """Whether a bearer token is meant as a client key (the admin token is not)."""
    return value.startswith(KEY_PREFIX)
