"""The processes under test: the upstream emulator, the service (one or more replicas), the
bare-FastAPI baseline and the fixed-bytes server — each a child process on loopback, pinned to
a core with ``taskset`` where there is more than one, and always torn down (``Stack.close``).

Children run in a scratch directory with a clean environment so a developer's ``.env`` or
exported variables cannot change what is measured.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import httpx

from marketsvc.config import PROVIDER_NAMES
from marketsvc.sandbox import sandbox_base_url

# Only the keyless providers whose adapters exist: crypto through Binance, stocks through Yahoo.
BENCH_PROVIDERS = ("binance", "yahoo")
REDIS_DB = 13  # a database number of its own; flushed before and after each use


@dataclass(frozen=True, slots=True)
class Cores:
    """Which CPUs each role gets: the server under test alone on one core when possible."""

    server: str | None
    other: str | None  # emulator, client, Redis/PostgreSQL share this one

    @classmethod
    def detect(cls) -> Cores:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2 or shutil.which("taskset") is None:
            return cls(None, None)
        return cls(str(cpus[-1]), ",".join(str(c) for c in cpus[:-1]))

    def pin_self(self) -> None:
        if self.other is not None:
            os.sched_setaffinity(0, {int(c) for c in self.other.split(",")})


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


BENCH_YAHOO_LIMITS = "40/second"


def base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def service_env(
    sandbox_root: str, database_url: str, redis_url: str | None, **extra: str
) -> dict[str, str]:
    """The service's environment: emulator base URLs, no scheduler, quiet logs."""
    env = base_env()
    env.update(
        DATABASE_URL=database_url,
        SCHEDULER_ENABLED="false",
        LOG_LEVEL="WARNING",
        YAHOO_RATE_LIMITS=BENCH_YAHOO_LIMITS,
        AUTO_MIGRATE="true",
    )
    for name in PROVIDER_NAMES:
        if name in BENCH_PROVIDERS:
            env[f"{name.upper()}_BASE_URL"] = sandbox_base_url(sandbox_root, name)
            env[f"{name.upper()}_ENABLED"] = "true"
        else:
            env[f"{name.upper()}_ENABLED"] = "false"
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


class Stack:
    """Owns every child process it starts; ``close`` stops them all (also on errors)."""

    def __init__(self, workdir: Path, cores: Cores) -> None:
        self.workdir = workdir
        self.cores = cores
        self.procs: list[Proc] = []

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        port: int,
        on_server_core: bool,
        ready_path: str = "/healthz",
        timeout: float = 30.0,
    ) -> Proc:
        cpus = self.cores.server if on_server_core else self.cores.other
        prefix = ["taskset", "-c", cpus] if cpus else []
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [*prefix, *argv],
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our own group: a stop never reaches the bench
            )
        proc = Proc(name, popen, log_path, port)
        self.procs.append(proc)
        wait_ready(proc, ready_path, timeout)
        return proc

    def emulator(self) -> Proc:
        port = free_port()
        argv = [sys.executable, "-m", "marketsvc", "sandbox", "--port", str(port)]
        proc = self.start(
            "emulator",
            argv,
            base_env(),
            port=port,
            on_server_core=False,
            ready_path="/_control/stats",
        )
        # Yahoo publishes no limit; the bench plays a generous one (both sides agree on it)
        # so the 5,000-symbol Zipf measures the cache and the planner, not a 60/minute queue.
        httpx.post(
            f"{proc.url}/_control/limits",
            json={"provider": "yahoo", "limits": BENCH_YAHOO_LIMITS},
            timeout=5,
        )
        return proc

    def service(self, name: str, env: dict[str, str], *, on_server_core: bool = True) -> Proc:
        port = free_port()
        argv = [sys.executable, "-m", "marketsvc", "serve", "--port", str(port)]
        return self.start(
            name, argv, env, port=port, on_server_core=on_server_core, ready_path="/readyz"
        )

    def helper_app(self, name: str, module: str, env: dict[str, str]) -> Proc:
        port = free_port()
        argv = [sys.executable, "-m", module, "--port", str(port)]
        env = {**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        return self.start(name, argv, env, port=port, on_server_core=True, ready_path="/healthz")

    def stop(self, proc: Proc, timeout: float = 10.0) -> None:
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in reversed(list(self.procs)):
            with contextlib.suppress(ProcessLookupError):  # it already exited
                self.stop(proc)


def wait_ready(proc: Proc, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            tail = proc.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(proc.url + path, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{proc.name} not ready on {proc.url}{path} after {timeout} s")


# -- the real PostgreSQL and Redis ------------------------------------------------------------

PG_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAt", "-c"]


class PgDatabases:
    """Fresh PostgreSQL databases for the bench, all dropped by ``close``."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def create(self, label: str) -> str:
        name = f"marketsvc_bench_{os.getpid()}_{label}"
        subprocess.run([*PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}"'], check=True)
        subprocess.run([*PG_ADMIN, f'CREATE DATABASE "{name}"'], check=True)
        self.names.append(name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    def close(self) -> None:
        for name in self.names:
            subprocess.run(
                [*PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False
            )
        self.names.clear()


def flush_redis(db: int = REDIS_DB) -> str:
    """FLUSHDB on the bench's Redis database; returns its URL."""
    import redis

    url = f"redis://127.0.0.1:6379/{db}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url
