"""Client-key fixtures: the real app (lifespan included, in-process emulator) with an admin
token, and helpers to issue keys through the admin API the way an operator does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from marketsvc.db.migrate import upgrade
from tests.api.conftest import make_settings, running_app

ADMIN_TOKEN = "admin-token-for-key-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PRICE = "/api/market/price/BTC"


async def issue(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """POST /admin/keys; the 201 answer (with the key)."""
    response = await client.post(
        "/api/market/admin/keys", json={"name": "test", **body}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys_pg_url(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of this test's own: the apps here stamp it as
    sandbox data, which must not touch the session's shared database."""
    name = f"marketsvc_keys_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(pg_admin_dsn, f'CREATE DATABASE "{name}"'))
    base = pg_admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    asyncio.run(_admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def replicas(
    tmp_path: Path, n: int, **overrides: Any
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``n`` app instances (each its own Container, Redis connections and L1) sharing
    whatever database and Redis ``overrides`` name: replicas, in one event loop."""
    async with AsyncExitStack() as stack:
        clients = []
        for i in range(n):
            settings = make_settings(
                tmp_path / f"r{i}", admin_token=ADMIN_TOKEN, auto_migrate=False, **overrides
            )
            _, client = await stack.enter_async_context(running_app(settings))
            clients.append(client)
        yield clients
