"""Granted calls in the ``provider_calls`` table, so a restart without Redis does not reset a
25/day or 10,000/month quota. The engine belongs to whoever created it (the Container)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.tables import provider_calls
from marketsvc.errors import CallLogError


@asynccontextmanager
async def _translated(action: str) -> AsyncIterator[None]:
    """The database's failures leave this module as one CallLogError (the limiter does not
    need to know SQLAlchemy)."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise CallLogError(f"{action}: {type(exc).__name__}") from exc


class DatabaseCallLog:
    """:class:`~marketsvc.planner.limiter.CallLog` over SQLAlchemy async Core."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load(self, provider: str, since: float) -> list[tuple[float, int]]:
        """Calls made after ``since`` (epoch seconds), oldest first."""
        query = (
            select(provider_calls.c.ts, provider_calls.c.weight)
            .where(provider_calls.c.provider == provider, provider_calls.c.ts > since)
            .order_by(provider_calls.c.ts)
        )
        async with _translated("load"), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(float(ts), int(weight)) for ts, weight in rows]

    async def append(self, provider: str, ts: float, weight: int) -> None:
        async with _translated("append"), self._engine.begin() as conn:
            await conn.execute(
                insert(provider_calls).values(provider=provider, ts=ts, weight=weight)
            )

    async def prune(self, provider: str, before: float) -> None:
        """Delete calls that have left every window (``ts <= before``)."""
        async with _translated("prune"), self._engine.begin() as conn:
            await conn.execute(
                delete(provider_calls).where(
                    provider_calls.c.provider == provider, provider_calls.c.ts <= before
                )
            )
