"""Async engine construction. The Container creates the engine and disposes of it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """Create the engine for ``database_url`` (asyncpg or aiosqlite)."""
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers proceed while one writer commits; busy_timeout makes concurrent
            # writers (two replicas on one file) wait instead of failing with "locked".
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(database_url, **kwargs)
