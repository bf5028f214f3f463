"""Shared fixtures. Real PostgreSQL and Redis are REQUIRED: a missing server fails the test,
it never skips (CI starts them; see .ci/run)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from hypothesis import settings as hypothesis_settings

from marketsvc.db.migrate import upgrade

# CI explores the same examples every run (a red build must be reproducible, not a lottery)
# and never fails on wall-clock deadlines of a loaded 2-core machine; locally hypothesis
# keeps searching new examples.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

PG_ADMIN_DSN = os.environ.get("MARKETSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MARKETSVC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{dbname}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped afterwards)."""
    name = f"marketsvc_t_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_DSN} and is not usable: {exc!r}")
    url = _pg_url(name)
    upgrade(url)
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite file database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'marketsvc.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis server; fails (never skips) when it is not reachable."""

    async def ping() -> None:
        client = aioredis.from_url(REDIS_URL, socket_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(ping())
    except (OSError, aioredis.RedisError) as exc:
        pytest.fail(f"Redis is required at {REDIS_URL} and is not reachable: {exc!r}")
    return REDIS_URL


@pytest.fixture
def redis_namespace() -> str:
    """A key prefix unique to one test, so tests never see each other's keys."""
    return f"marketsvc-test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(redis_url: str, redis_namespace: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{redis_namespace}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """create_app() configures the root logger; undo it so one test's level or handler does
    not leak into the next."""
    import logging

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
