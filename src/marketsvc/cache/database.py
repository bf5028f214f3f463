"""L3: the ``cache_entries`` table (PostgreSQL via asyncpg or SQLite via aiosqlite).

The slowest tier and the one that survives everything: a restart, a Redis outage, a cold
replica. SQLAlchemy Core on an ``AsyncEngine`` the caller creates and disposes of. Writes are an
upsert whose UPDATE only fires when the new row is at least as recent (``fetched_at``), so an
older value never overwrites a newer one even when two replicas race. ``sweep(now)`` deletes
rows past their stale horizon; reads ignore such rows even before the sweep runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.cache.base import CacheEntry, TierError, TierUsage, check_prefix
from marketsvc.db.tables import cache_entries
from marketsvc.errors import ConfigError

T = TypeVar("T")

_COLUMNS = (
    cache_entries.c.key,
    cache_entries.c.payload,
    cache_entries.c.source,
    cache_entries.c.fetched_at,
    cache_entries.c.fresh_until,
    cache_entries.c.stale_until,
)
# Bound parameters per statement stay far below SQLite's 32766 and asyncpg's 32767 limits.
_CHUNK = 500
_ROWS_PER_INSERT = _CHUNK // len(_COLUMNS)
BACKEND_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, asyncio.TimeoutError)


def _entry(row: Any) -> CacheEntry:
    return CacheEntry(
        payload=bytes(row.payload),
        source=row.source,
        fetched_at=row.fetched_at,
        fresh_until=row.fresh_until,
        stale_until=row.stale_until,
    )


class DatabaseTier:
    name = "database"

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], float] = time.time,
        op_timeout: float | None = 5.0,
    ) -> None:
        dialect = engine.dialect.name
        if dialect == "postgresql":
            self._insert: Any = postgresql.insert
        elif dialect == "sqlite":
            self._insert = sqlite.insert
        else:
            raise ConfigError(f"the cache's L3 supports PostgreSQL and SQLite, not {dialect}")
        self._engine = engine
        self._clock = clock
        self._timeout = op_timeout

    async def _run(self, op: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await op()
        except BACKEND_ERRORS as exc:
            # The type name only: driver messages can quote the DSN.
            raise TierError(self.name, type(exc).__name__) from exc

    async def get(self, key: str) -> CacheEntry | None:
        found = await self.get_many([key])
        return found[0]

    async def get_many(self, keys: Sequence[str]) -> list[CacheEntry | None]:
        if not keys:
            return []
        now = self._clock()

        async def run() -> dict[str, CacheEntry]:
            found: dict[str, CacheEntry] = {}
            async with self._engine.connect() as conn:
                for i in range(0, len(keys), _CHUNK):
                    stmt = select(*_COLUMNS).where(
                        cache_entries.c.key.in_(keys[i : i + _CHUNK]),
                        cache_entries.c.stale_until > now,
                    )
                    for row in await conn.execute(stmt):
                        found[row.key] = _entry(row)
            return found

        found = await self._run(run)
        return [found.get(key) for key in keys]

    async def set(self, key: str, entry: CacheEntry) -> bool:
        return await self.set_many([(key, entry)]) == 1

    async def set_many(self, items: Sequence[tuple[str, CacheEntry]]) -> int:
        now = self._clock()
        # One row per key (the newest): PostgreSQL refuses an upsert touching a row twice.
        rows: dict[str, CacheEntry] = {}
        for key, entry in items:
            kept = rows.get(key)
            if entry.stale_until > now and (kept is None or entry.fetched_at >= kept.fetched_at):
                rows[key] = entry
        if not rows:
            return 0
        values = [
            {
                "key": key,
                "payload": e.payload,
                "source": e.source,
                "fetched_at": e.fetched_at,
                "fresh_until": e.fresh_until,
                "stale_until": e.stale_until,
            }
            for key, e in rows.items()
        ]

        async def run() -> int:
            stored = 0
            async with self._engine.begin() as conn:
                for i in range(0, len(values), _ROWS_PER_INSERT):
                    chunk = values[i : i + _ROWS_PER_INSERT]
                    stmt = self._insert(cache_entries).values(chunk)
                    new = stmt.excluded
                    stmt = stmt.on_conflict_do_update(
                        index_elements=[cache_entries.c.key],
                        set_={
                            "payload": new.payload,
                            "source": new.source,
                            "fetched_at": new.fetched_at,
                            "fresh_until": new.fresh_until,
                            "stale_until": new.stale_until,
                        },
                        # A held row that is newer and still servable wins; a row already past
                        # its stale horizon is dead weight whatever its fetched_at.
                        where=(cache_entries.c.fetched_at <= new.fetched_at)
                        | (cache_entries.c.stale_until <= now),
                    )
                    result = await conn.execute(stmt)
                    stored += max(result.rowcount, 0)
            return stored

        return await self._run(run)

    async def delete(self, key: str) -> None:
        async def run() -> None:
            async with self._engine.begin() as conn:
                await conn.execute(delete(cache_entries).where(cache_entries.c.key == key))

        await self._run(run)

    async def clear(self, prefix: str) -> int:
        check_prefix(prefix)
        # startswith(autoescape=True) escapes LIKE's % and _ (keys contain percent-encoding).
        return await self._delete_where(cache_entries.c.key.startswith(prefix, autoescape=True))

    async def sweep(self, now: float | None = None) -> int:
        """Delete rows past their stale horizon; returns how many went."""
        at = self._clock() if now is None else now
        return await self._delete_where(cache_entries.c.stale_until <= at)

    async def _delete_where(self, condition: Any) -> int:
        async def run() -> int:
            async with self._engine.begin() as conn:
                result = await conn.execute(delete(cache_entries).where(condition))
                return max(result.rowcount, 0)

        return await self._run(run)

    async def usage(self) -> TierUsage:
        async def run() -> TierUsage:
            stmt = select(
                func.count(), func.coalesce(func.sum(func.length(cache_entries.c.payload)), 0)
            )
            async with self._engine.connect() as conn:
                count, size = (await conn.execute(stmt)).one()
            return TierUsage(entries=int(count), bytes=int(size))

        return await self._run(run)
