"""Real processes on loopback for the tests, each stopped by its owner: ``marketsvc`` itself,
and private ``redis-server`` / PostgreSQL instances on spare ports.

The session fixtures (``tests/conftest.py``) start a private Redis or PostgreSQL when the
machine's own does not answer, so ``make test`` needs the binaries installed, not running; the
reliability suite starts its own to stop and restart them mid-load. Nothing here touches the
machine's servers.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

from marketsvc.config import Settings

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> float:
    """Poll ``predicate`` until true; the seconds it took. Raises TimeoutError."""
    t0 = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


def http_status(url: str, timeout: float = 1.0) -> int:
    """The status of GET ``url``; 0 when nothing answers."""
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return 0


def base_env() -> dict[str, str]:
    """The test runner's environment minus anything Settings would read, so no outer
    configuration (a developer's keys or DATABASE_URL) leaks into a process under test."""
    fields = {name.lower() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.lower() not in fields}


class MarketsvcProcess:
    """One ``python -m marketsvc ...`` process; stdout and stderr go to ``log``."""

    def __init__(self, args: list[str], env: Mapping[str, str], workdir: Path, name: str) -> None:
        self.args = args
        self.env = {**base_env(), **env}
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_url: str) -> None:
        with self.log.open("ab") as out:
            # cwd = a private directory: Settings also reads a ``.env`` from the cwd.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "marketsvc", *self.args],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while http_status(ready_url) != 200:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{ready_url} not ready:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class RedisServer:
    """A private ``redis-server`` without persistence: a restart comes back empty."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("the redis-server binary is required (installed, not running)")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        with (self.workdir / f"redis-{self.port}.log").open("ab") as out:
            self.proc = subprocess.Popen(
                args, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(self._answers, timeout=10)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _pg_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    path = found[-1] if found else shutil.which(tool)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {tool} is required (installed, not running)")
    return path


class PostgresServer:
    """A private PostgreSQL cluster (initdb in a temp dir) on a spare port.

    Run as the ``postgres`` user when we are root (PostgreSQL refuses to run as root), so
    ``root`` must be a directory that user can reach (not under pytest's 0700 tmp dirs)."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = root
        self.data = root / "data"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.decode(errors='replace')}")
        return done

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            _pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        # fsync off: durability is not under test, start/stop speed is.
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts,
            "-l", str(self.root / "server.log"), "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def running(self) -> bool:
        status = self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "status", check=False)
        return status.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = self._run(
            _pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
        )  # fmt: skip
        return out.stdout.decode(errors="replace")

    def create_database(self, name: str) -> str:
        """A new empty database; the asyncpg URL the service uses (it migrates at start)."""
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def cleanup(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def postgres_problem(dsn: str) -> str | None:
    """Why the PostgreSQL server at ``dsn`` cannot serve the tests; None when it can."""

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    try:
        asyncio.run(probe())
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def redis_problem(url: str) -> str | None:
    """Why the Redis server at ``url`` cannot serve the tests; None when it can."""

    async def probe() -> None:
        client = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(probe())
    except (OSError, aioredis.RedisError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@contextmanager
def sandbox_service(tmp: Path, **env: str) -> Iterator[tuple[str, MarketsvcProcess]]:
    """``marketsvc serve --sandbox`` as a process on a spare port (its own SQLite file, no
    scheduler, quiet logs unless ``env`` says otherwise), ready, and stopped afterwards."""
    port = free_port()
    settings = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'svc.db'}",
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    proc = MarketsvcProcess(["serve", "--sandbox", "--port", str(port)], settings, tmp, "svc")
    root = f"http://127.0.0.1:{port}"
    proc.start(f"{root}/readyz")
    try:
        yield root, proc
    finally:
        proc.stop()
