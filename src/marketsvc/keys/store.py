"""Client key records in SQL (the ``client_keys`` table): the durable truth behind the cache.

Every write goes through here and returns the new record, so the caller can announce the
change to the other replicas. Nothing here ever sees a key in clear, only its hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.tables import client_keys
from marketsvc.domain import Priority
from marketsvc.errors import MarketsvcError
from marketsvc.keys.model import ClientKey, Scope, parse_limit


class KeyStoreError(MarketsvcError):
    """The key table could not be read or written."""


def _row(key: ClientKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "key_hash": key.key_hash,
        "scopes": ",".join(sorted(s.value for s in key.scopes)),
        "rate_limit": str(key.rate_limit) if key.rate_limit else None,
        "quota": str(key.quota) if key.quota else None,
        "priority": key.priority.name if key.priority is not None else None,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "rotated_at": key.rotated_at,
        "last_used_at": key.last_used_at,
    }


def _record(row: Mapping[str, Any]) -> ClientKey:
    return ClientKey(
        id=row["id"],
        name=row["name"],
        key_hash=row["key_hash"],
        scopes=frozenset(Scope(s) for s in row["scopes"].split(",") if s),
        rate_limit=parse_limit(row["rate_limit"], "limit"),
        quota=parse_limit(row["quota"], "quota"),
        priority=Priority[row["priority"]] if row["priority"] else None,
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        rotated_at=row["rotated_at"],
        last_used_at=row["last_used_at"],
    )


class DatabaseKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, key: ClientKey) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(client_keys.insert().values(**_row(key)))
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"could not store key {key.prefix}") from exc

    async def get(self, key_id: str) -> ClientKey | None:
        rows = await self._select(client_keys.c.id == key_id)
        return rows[0] if rows else None

    async def all(self) -> list[ClientKey]:
        return await self._select(None)

    async def set_fields(self, key_id: str, **values: Any) -> ClientKey | None:
        """Update some columns of one key; the record after the change (None: no such key)."""
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(client_keys).where(client_keys.c.id == key_id).values(**values)
                )
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"could not update key {key_id}") from exc
        if result.rowcount == 0:
            return None
        return await self.get(key_id)

    async def touch(self, last_used: Iterable[tuple[str, float]]) -> None:
        """Record last-used times in one transaction (the meter calls this per flush)."""
        pairs = list(last_used)
        if not pairs:
            return
        try:
            async with self._engine.begin() as conn:
                for key_id, at in pairs:
                    await conn.execute(
                        update(client_keys)
                        .where(client_keys.c.id == key_id)
                        .values(last_used_at=at)
                    )
        except SQLAlchemyError as exc:
            raise KeyStoreError("could not record last-used times") from exc

    async def _select(self, where: Any) -> list[ClientKey]:
        query = select(client_keys).order_by(client_keys.c.created_at)
        if where is not None:
            query = query.where(where)
        try:
            async with self._engine.connect() as conn:
                rows: Sequence[Any] = (await conn.execute(query)).mappings().all()
        except SQLAlchemyError as exc:
            raise KeyStoreError("could not read client keys") from exc
        return [_record(row) for row in rows]
