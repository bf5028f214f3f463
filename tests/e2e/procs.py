"""Start real ``marketsvc`` processes on loopback for end-to-end tests (always stopped)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from marketsvc.config import PROVIDER_NAMES
from marketsvc.sandbox import sandbox_base_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"process exited with {proc.returncode}: {out[-2000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout} s")


@contextmanager
def process(
    args: list[str], env: Mapping[str, str], ready_url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    full_env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    full_env.update(env)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "marketsvc", *args],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(ready_url, proc)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def service_env(emulator_root: str, db_url: str, **extra: str) -> dict[str, str]:
    """Every provider pointed at the emulator process, with placeholder keys."""
    env = {
        "DATABASE_URL": db_url,
        "SCHEDULER_ENABLED": "false",
        # Streams are opted into by the stream tests (stream_env); the rest compare REST values.
        "STREAMS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    for name in PROVIDER_NAMES:
        env[f"{name.upper()}_BASE_URL"] = sandbox_base_url(emulator_root, name)
        env[f"{name.upper()}_API_KEY"] = f"e2e-placeholder-{name}"
    env.update(extra)
    return env


def stream_env(emulator_root: str, db_url: str, **extra: str) -> dict[str, str]:
    """``service_env`` plus the provider streams pointed at the emulator's stream paths."""
    from marketsvc.sandbox.streams import sandbox_ws_url

    env = service_env(emulator_root, db_url, STREAMS_ENABLED="true")
    for name in ("binance", "finnhub", "polygon"):
        env[f"{name.upper()}_WS_URL"] = sandbox_ws_url(emulator_root, name)
    env.update(extra)
    return env


@contextmanager
def emulator(tmp: Path) -> Iterator[str]:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    with process(
        ["sandbox", "--port", str(port)], {}, f"{root}/_control/stats", tmp / "emulator.log"
    ):
        yield root


@contextmanager
def service(tmp: Path, env: Mapping[str, str], name: str = "svc") -> Iterator[str]:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    with process(["serve", "--port", str(port)], env, f"{root}/readyz", tmp / f"{name}.log"):
        yield root
