"""The schema is what Alembic says: after `upgrade head`, autogenerate finds no difference
between the migrated database and the table metadata, on PostgreSQL and on SQLite; and the
migration downgrades cleanly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from marketsvc.db.engine import create_engine
from marketsvc.db.migrate import alembic_config, upgrade
from marketsvc.db.tables import metadata


def _diff(url: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_autogenerate_finds_no_difference(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url" if backend == "postgres" else "sqlite_url")
    assert _diff(url) == []


def test_downgrade_and_upgrade_again(sqlite_url: str) -> None:
    assert {"cache_entries", "candles", "provider_calls"} <= _tables(sqlite_url)
    command.downgrade(alembic_config(sqlite_url), "base")
    assert _tables(sqlite_url) <= {"alembic_version"}
    upgrade(sqlite_url)
    assert {"cache_entries", "candles", "provider_calls"} <= _tables(sqlite_url)
