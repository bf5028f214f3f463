"""Shared fixtures. Real PostgreSQL and Redis are REQUIRED and never skipped: the tests use the
machine's servers (127.0.0.1:5432 database ``test``, 127.0.0.1:6379, or
``MARKETSVC_TEST_PG_DSN`` / ``MARKETSVC_TEST_REDIS_URL``) when they answer, and otherwise start
private ones on spare ports for the session (the binaries must be installed), saying so in the
terminal summary. A private server that cannot start fails the tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from hypothesis import settings as hypothesis_settings

from marketsvc.db.migrate import upgrade
from tests._services import PostgresServer, RedisServer, postgres_problem, redis_problem

# CI explores the same examples every run (a red build must be reproducible, not a lottery)
# and never fails on wall-clock deadlines of a loaded 2-core machine; locally hypothesis
# keeps searching new examples.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# Lines for the terminal summary: which private servers this session started, and why.
_SERVICE_NOTICES = pytest.StashKey[list[str]]()


def _notice(config: pytest.Config, line: str) -> None:
    config.stash.setdefault(_SERVICE_NOTICES, []).append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in terminalreporter.config.stash.get(_SERVICE_NOTICES, []):
        terminalreporter.write_line(line, yellow=True)


@pytest.fixture(scope="session")
def pg_admin_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL DSN with CREATE DATABASE rights: the configured server when it answers,
    else a private cluster started for this session."""
    configured = os.environ.get("MARKETSVC_TEST_PG_DSN", DEFAULT_PG_DSN)
    problem = postgres_problem(configured)
    if problem is None:
        yield configured
        return
    # Not pytest's tmp dirs: they are 0700 root's, and the cluster runs as ``postgres``.
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="marketsvc-test-pg-")))
    try:
        server.init()
        server.start()
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        server.cleanup()
        pytest.fail(f"PostgreSQL at {configured}: {problem}; a private one failed: {exc!r}")
    _notice(
        request.config,
        f"services: PostgreSQL at {configured} did not answer ({problem}); "
        f"the tests used a private cluster on 127.0.0.1:{server.port}",
    )
    try:
        yield server.admin_dsn
    finally:
        server.cleanup()


def _pg_url(admin_dsn: str, dbname: str) -> str:
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{dbname}"


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped afterwards)."""
    name = f"marketsvc_t_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(pg_admin_dsn, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {pg_admin_dsn} cannot create a database: {exc!r}")
    url = _pg_url(pg_admin_dsn, name)
    upgrade(url)
    yield url
    asyncio.run(_admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite file database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'marketsvc.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis URL (database 0; tests may use the others): the configured server when it
    answers, else a private ``redis-server`` started for this session."""
    configured = os.environ.get("MARKETSVC_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    problem = redis_problem(configured)
    if problem is None:
        yield configured
        return
    workdir = Path(tempfile.mkdtemp(prefix="marketsvc-test-redis-"))
    server = RedisServer(workdir)
    try:
        server.start()
    except (OSError, RuntimeError, TimeoutError) as exc:
        server.stop()
        pytest.fail(f"Redis at {configured}: {problem}; a private one failed: {exc!r}")
    _notice(
        request.config,
        f"services: Redis at {configured} did not answer ({problem}); "
        f"the tests used a private redis-server on 127.0.0.1:{server.port}",
    )
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


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
