"""Sandbox data never reaches a real answer: `marketsvc serve --sandbox` and then a plain
`marketsvc serve` in the same folder on the default database, the second against an emulator
process playing "real" (its prices scaled ×1.5, so a synthetic value from the first run would
show): every real-mode answer comes from that process, none from the sandbox run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from marketsvc.config import PROVIDER_NAMES
from marketsvc.sandbox import _synth, sandbox_base_url
from tests.e2e.procs import emulator, free_port, wait_ready

REAL_FACTOR = 1.5


@contextmanager
def serve_in(cwd: Path, env: Mapping[str, str], *args: str) -> Iterator[str]:
    """`marketsvc serve` with ``cwd`` as its working folder (where the default database lives)."""
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    full = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    full.update(
        {
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "SCHEDULER_ENABLED": "false",
            "STREAMS_ENABLED": "false",
            **env,
        }
    )
    with (cwd / f"serve-{port}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "marketsvc", "serve", "--port", str(port), *args],
            cwd=cwd,
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(f"{root}/readyz", proc)
            yield root
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


PATHS = (
    "/api/market/price/BTC",
    "/api/market/price/AAPL",
    "/api/market/news?query=bitcoin&limit=3",
    "/api/market/fundamentals/AAPL",
    "/api/market/historical/BTC?days=10",
    "/api/market/historical/AAPL?days=10",
)


def real_price(symbol: str, body: dict[str, object]) -> bool:
    t = datetime.fromisoformat(str(body["fetched_at"]).replace("Z", "+00:00")).timestamp()
    price = float(str(body["price"]))
    return any(
        abs(_synth.price_at(symbol, t - d) * REAL_FACTOR - price) <= 1e-6 * price for d in (0, 60)
    )


@pytest.mark.timeout(120)
def test_a_real_run_after_a_sandbox_run_serves_no_synthetic_answer(tmp_path: Path) -> None:
    with serve_in(tmp_path, {}, "--sandbox") as root:
        for path in PATHS:
            body = httpx.get(root + path, timeout=20).json()
            assert body.get("sandbox") is True, (path, body)
    assert (tmp_path / "marketsvc-sandbox.db").exists()
    assert not (tmp_path / "marketsvc.db").exists()

    with emulator(tmp_path) as emu:
        for name in PROVIDER_NAMES:
            fault = {"provider": name, "kind": "diverge", "factor": REAL_FACTOR}
            httpx.post(f"{emu}/_control/faults", json=fault).raise_for_status()
        env = {f"{n.upper()}_BASE_URL": sandbox_base_url(emu, n) for n in PROVIDER_NAMES}
        env.update({f"{n.upper()}_API_KEY": f"e2e-placeholder-{n}" for n in PROVIDER_NAMES})
        with serve_in(tmp_path, env) as root:
            answers = {path: httpx.get(root + path, timeout=20).json() for path in PATHS}
        calls = httpx.get(f"{emu}/_control/calls").json()["calls"]
    for path, body in answers.items():
        assert "sandbox" not in body, (path, body)
        assert body["cached"] is False, (path, body)  # fetched in this run, not held
    assert real_price("BTC", answers["/api/market/price/BTC"])
    assert real_price("AAPL", answers["/api/market/price/AAPL"])
    for path in ("/api/market/historical/BTC?days=10", "/api/market/historical/AAPL?days=10"):
        spans = answers[path]["providers"]
        assert spans and sum(s["candles"] for s in spans) == len(answers[path]["candles"])
    asked = {c["path"].split("/", 2)[1] for c in calls}  # each answer's provider was asked
    assert {"binance", "finnhub"} <= asked
    assert any(c["path"].endswith("/klines") for c in calls)  # candles fetched, not stored ones


def test_a_database_of_the_other_mode_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    with serve_in(tmp_path, {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}) as root:
        assert httpx.get(f"{root}/healthz").status_code == 200
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "marketsvc", "serve", "--sandbox", "--port", str(free_port())],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "SCHEDULER_ENABLED": "0"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in proc.stderr.decode().splitlines() if line.strip()]
    assert proc.returncode == 2  # a configuration to fix (README: exit status)
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert "holds real data" in lines[0] and "never mix" in lines[0]
    assert time.monotonic() - started < 30
