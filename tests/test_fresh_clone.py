"""The README's set-up command on a fresh clone: ``git clone`` this checkout's committed HEAD
into a temp dir and run ``SANDBOX=true make run`` there, exactly as a new user would (it
creates its own ``.venv`` and installs into it), then SIGTERM the server and expect a clean
exit.

The install takes one pip run (about 20 s with a warm pip cache or a local index, a few
minutes cold), hence the long timeout. Uncommitted changes are not part of the clone on
purpose: what is tested is what a user would get.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._services import base_env, free_port, http_status

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 480.0


def _git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def _clean_env() -> dict[str, str]:
    """The environment of a user's shell: no Settings variables of ours, no outer make's
    flags (``make test`` passes its own command-line variables down through MAKEFLAGS, which
    would reach the inner make) and no active virtual environment."""
    env = {
        k: v
        for k, v in base_env().items()
        if not k.startswith("MAKE") and k not in {"MFLAGS", "VIRTUAL_ENV", "PYTHONPATH"}
    }
    env["SANDBOX"] = "true"
    return env


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The name field is in parentheses and may hold spaces; the ppid follows it.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    head = _git("rev-parse", "HEAD")
    target = tmp_path / "marketsvc"
    _git("clone", "--quiet", str(REPO), str(target), cwd=tmp_path)
    _git("checkout", "--quiet", head, cwd=target)
    return target


@pytest.fixture
def make_run(clone: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``SANDBOX=true make run PORT=<spare>`` in the clone, in its own process group so that
    whatever make started (pip, the server) is stopped with it."""
    port = free_port()
    log = clone.parent / "make-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            env=_clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, f"http://127.0.0.1:{port}", log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.timeout(600)
def test_make_run_serves_the_sandbox_on_a_fresh_clone(
    make_run: tuple[subprocess.Popen[bytes], str, Path], clone: Path
) -> None:
    proc, root, log = make_run
    assert not (clone / ".venv").exists()  # nothing pre-made: make run builds it

    deadline = time.monotonic() + READY_TIMEOUT
    while http_status(f"{root}/healthz") != 200:
        if proc.poll() is not None:
            pytest.fail(f"make run exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{root}/healthz not up in {READY_TIMEOUT} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    assert (clone / ".venv" / ".installed-stamp").exists()

    price = httpx.get(f"{root}/api/market/price/BTC", timeout=30)
    assert price.status_code == 200, price.text
    assert price.json()["sandbox"] is True
    assert price.json()["symbol"] == "BTC" and price.json()["price"] > 0

    # SIGTERM to the server itself (make's child), as a process manager would send it; make
    # then reports the recipe's own exit status.
    servers = _children(proc.pid)
    assert len(servers) == 1, servers
    os.kill(servers[0], signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()[-4000:]
    output = log.read_text()
    assert "Application shutdown complete" in output and "Traceback" not in output
