"""Fixtures of the reliability suite: the upstream emulator, ``marketsvc serve``, a private
redis-server and a private PostgreSQL cluster, each a real process on a spare loopback port.

Nothing is skipped when a binary or server is missing: the fixture fails, loudly.
"""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._services import (
    MarketsvcProcess,
    PostgresServer,
    RedisServer,
    free_port,
    http_status,
)
from tests.reliability._load import LONG
from tests.reliability._procs import service_env

# The emulator's named companies (its SYN0000... tail is for the bench): every stock provider
# knows these, so a failure to answer one is the service's, not the catalogue's.
STOCK_SYMBOLS: tuple[str, ...] = (
    "AAPL", "AMZN", "BRK.B", "GOOGL", "IBM", "JPM", "META", "MSFT", "NFLX", "NVDA", "SPY", "TSLA",
    "V",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The long form's loads outlast the suite-wide 60 s per-test timeout.
    if LONG:
        for item in items:
            if item.get_closest_marker("reliability"):
                item.add_marker(pytest.mark.timeout(600))


@dataclass(frozen=True, slots=True)
class Emulator:
    """The emulator process's control API (``/_control``)."""

    root: str
    proc: MarketsvcProcess

    def _post(self, path: str, body: dict[str, Any]) -> None:
        resp = httpx.post(f"{self.root}/_control/{path}", json=body, timeout=5)
        assert resp.status_code == 200, resp.text

    def fault(self, provider: str, kind: str, **params: Any) -> None:
        self._post("faults", {"provider": provider, "kind": kind, **params})

    def clear_faults(self, provider: str | None = None) -> None:
        params = {"provider": provider} if provider else {}
        httpx.delete(f"{self.root}/_control/faults", params=params, timeout=5).raise_for_status()

    def set_limits(self, provider: str, limits: str) -> None:
        self._post("limits", {"provider": provider, "limits": limits})

    def stats(self) -> dict[str, dict[str, Any]]:
        resp = httpx.get(f"{self.root}/_control/stats", timeout=5)
        resp.raise_for_status()
        stats: dict[str, dict[str, Any]] = resp.json()
        return stats

    def over_limit(self) -> dict[str, int]:
        """Calls each provider received beyond its enforced limits (or inside a 429 block)."""
        return {name: int(s["over_limit"]) for name, s in self.stats().items()}

    def calls(self, provider: str | None = None) -> list[dict[str, Any]]:
        params = {"provider": provider} if provider else {}
        resp = httpx.get(f"{self.root}/_control/calls", params=params, timeout=5)
        resp.raise_for_status()
        rows: list[dict[str, Any]] = resp.json()["calls"]
        return rows


@dataclass(frozen=True, slots=True)
class Service:
    root: str
    proc: MarketsvcProcess
    env: dict[str, str]

    def ready_status(self) -> int:
        return http_status(f"{self.root}/readyz", timeout=3)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL cluster for the session (tests get their own database in it).
    A test that stops it starts it again; the fixture re-starts it if a test failed midway."""
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="marketsvc-rel-pg-")))
    try:
        server.init()
        server.start()
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        server.cleanup()
        pytest.fail(f"cannot start a private PostgreSQL: {exc!r}")
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh database on the private cluster (overrides the shared-server ``pg_url``)."""
    if not pg_server.running():
        pg_server.start()
    return pg_server.create_database(f"rel_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    proc = MarketsvcProcess(["sandbox", "--port", str(port)], {}, tmp_path, "emulator")
    proc.start(f"{root}/_control/stats")
    try:
        yield Emulator(root, proc)
    finally:
        proc.stop()


ServiceFactory = Callable[..., Service]


@pytest.fixture
def start_service(tmp_path: Path, emulator: Emulator, pg_url: str) -> Iterator[ServiceFactory]:
    """``start_service(name="svc", keys=None, **ENV)``: a ``marketsvc serve`` process on the
    emulator and this test's database, ready (``/readyz`` 200) when returned."""
    started: list[MarketsvcProcess] = []

    def start(name: str = "svc", keys: dict[str, str] | None = None, **extra: str) -> Service:
        port = free_port()
        root = f"http://127.0.0.1:{port}"
        env = service_env(emulator.root, pg_url, keys, **extra)
        proc = MarketsvcProcess(["serve", "--port", str(port)], env, tmp_path, name)
        started.append(proc)
        proc.start(f"{root}/readyz")
        return Service(root, proc, env)

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
