"""``python -m marketsvc serve`` misconfigured, run as a real process the way an operator runs it.

Each case must end within seconds in one line per problem on stderr (``marketsvc: ...``) that
names the variable or option, with the documented exit status (2: fix the configuration;
3: something it names is unavailable), no traceback, and none of the secrets the process was
given: sentinel API keys, the admin token, and a password inside the database and Redis URLs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from marketsvc.config import Settings

TIMEOUT = 20.0
PASSWORD = "SENTINEL-url-password-5e1d"
SECRETS = {
    "FINNHUB_API_KEY": "SENTINEL-finnhub-key-93af",
    "POLYGON_API_KEY": "SENTINEL-polygon-key-2b7c",
    "COINGECKO_API_KEY": "SENTINEL-coingecko-key-d41e",
    "ADMIN_TOKEN": "SENTINEL-admin-token-77c1",
}


def clean_env() -> dict[str, str]:
    """The runner's environment without anything marketsvc would read (a developer's keys,
    DATABASE_URL, the test suite's own MARKETSVC_* switches)."""
    fields = {name.lower() for name in Settings.model_fields}
    return {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in fields and not k.upper().startswith("MARKETSVC")
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def service_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    return {
        **clean_env(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}",
        "SCHEDULER_ENABLED": "false",
        **SECRETS,
        **overrides,
    }


def run_marketsvc(tmp_path: Path, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    # cwd = tmp_path: Settings also reads a .env from the working directory.
    done = subprocess.run(
        [sys.executable, "-m", "marketsvc", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def assert_one_line_per_problem(stdout: str, stderr: str, names: list[str]) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == len(names), f"expected {len(names)} line(s):\n{stderr}"
    for line, name in zip(lines, names, strict=True):
        assert line.startswith("marketsvc"), line
        assert name in line, f"{name!r} not named in {line!r}"
    assert "Traceback" not in stdout + stderr
    for secret in [PASSWORD, *SECRETS.values()]:
        assert secret not in stdout + stderr
    return lines


# (environment overrides, the names the lines must carry in order, exit status)
MISCONFIGURATIONS: dict[str, tuple[dict[str, str], list[str], int]] = {
    "timeout-not-a-number": ({"PROVIDER_TIMEOUT": "abc"}, ["PROVIDER_TIMEOUT"], 2),
    "rate-limit-bad-unit": ({"BINANCE_RATE_LIMITS": "30/min"}, ["BINANCE_RATE_LIMITS"], 2),
    "rate-limit-garbage": ({"BINANCE_RATE_LIMITS": "abc"}, ["BINANCE_RATE_LIMITS"], 2),
    "log-level-unknown": ({"LOG_LEVEL": "LOUD"}, ["LOG_LEVEL"], 2),
    "boolean-unknown": ({"FINNHUB_ENABLED": "maybe"}, ["FINNHUB_ENABLED"], 2),
    "base-url-not-a-url": ({"COINGECKO_BASE_URL": "http://[::1"}, ["COINGECKO_BASE_URL"], 2),
    "database-url-unparseable": ({"DATABASE_URL": "notaurl"}, ["DATABASE_URL"], 2),
    "database-driver-unknown": (
        {"DATABASE_URL": f"mysql+foo://ops:{PASSWORD}@db.internal/market"},
        ["DATABASE_URL"],
        2,
    ),
    "database-unreachable": (
        {"DATABASE_URL": f"postgresql+asyncpg://ops:{PASSWORD}@127.0.0.1:1/market"},
        ["DATABASE_URL"],
        3,
    ),
    "sqlite-directory-missing": (
        {"DATABASE_URL": "sqlite+aiosqlite:////nonexistent-dir/marketsvc.db"},
        ["DATABASE_URL"],
        3,
    ),
    "redis-url-not-a-url": ({"REDIS_URL": "notaurl"}, ["REDIS_URL"], 2),
    "redis-unreachable": ({"REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:1/0"}, ["REDIS_URL"], 3),
    "several-at-once": (
        {"PROVIDER_TIMEOUT": "abc", "CALL_PLANNER_WORKERS": "0", "LOG_LEVEL": "LOUD"},
        ["LOG_LEVEL", "CALL_PLANNER_WORKERS", "PROVIDER_TIMEOUT"],  # the settings' own order
        2,
    ),
}


@pytest.mark.parametrize("case", list(MISCONFIGURATIONS))
def test_misconfiguration_is_one_clear_line(tmp_path: Path, case: str) -> None:
    overrides, names, status = MISCONFIGURATIONS[case]
    t0 = time.monotonic()
    code, out, err = run_marketsvc(
        tmp_path, ["serve", "--port", str(free_port())], service_env(tmp_path, **overrides)
    )
    assert code == status, err
    lines = assert_one_line_per_problem(out, err, names)
    assert re.search(r"; (set|use|check|start|unset) ", lines[0]), f"no fix in {lines[0]!r}"
    assert time.monotonic() - t0 < 15.0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["serve", "--port", "abc"], "--port"),
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--workers", "0"], "--workers"),
        (["serve", "--host", "no-such-host.invalid"], "--host"),
        ([], "command"),
    ],
)
def test_bad_command_line_is_one_line_with_status_2(
    tmp_path: Path, args: list[str], option: str
) -> None:
    code, out, err = run_marketsvc(tmp_path, args, service_env(tmp_path))
    assert code == 2, err
    assert_one_line_per_problem(out, err, [option])


@pytest.mark.parametrize("command", ["serve", "sandbox"])
def test_port_in_use_is_one_line_with_status_3(tmp_path: Path, command: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run_marketsvc(
            tmp_path, [command, "--port", str(port)], service_env(tmp_path)
        )
    assert code == 3, err
    (line,) = assert_one_line_per_problem(out, err, ["--port"])
    assert f"127.0.0.1:{port}" in line


@pytest.mark.parametrize(
    ("variable", "url", "limit"),
    [
        ("DATABASE_URL", f"postgresql+asyncpg://ops:{PASSWORD}@127.0.0.1:{{port}}/m", 5),
        ("REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:{{port}}/0", 3),
    ],
)
def test_silent_server_is_given_up_on_in_bounded_time(
    tmp_path: Path, variable: str, url: str, limit: int
) -> None:
    """A server that accepts connections and never answers (the kernel completes the TCP
    handshake from the backlog; nobody reads): the check gives up after its timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = service_env(tmp_path, **{variable: url.format(port=silent.getsockname()[1])})
        t0 = time.monotonic()
        code, out, err = run_marketsvc(tmp_path, ["serve", "--port", str(free_port())], env)
        elapsed = time.monotonic() - t0
    assert code == 3, err
    (line,) = assert_one_line_per_problem(out, err, [variable])
    assert f"no answer within {limit} s" in line
    assert limit <= elapsed < limit + 5.0


def test_migrate_with_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = service_env(tmp_path, DATABASE_URL=f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:1/x")
    code, out, err = run_marketsvc(tmp_path, ["migrate"], env)
    assert code == 3, err
    assert_one_line_per_problem(out, err, ["DATABASE_URL"])


@pytest.mark.parametrize("args", [["--debug", "serve"], ["serve", "--debug"]])
def test_debug_shows_the_traceback_and_still_the_line(tmp_path: Path, args: list[str]) -> None:
    env = service_env(tmp_path, PROVIDER_TIMEOUT="abc")
    code, _, err = run_marketsvc(tmp_path, [*args, "--port", str(free_port())], env)
    assert code == 2
    assert "Traceback" in err
    assert err.rstrip().splitlines()[-1].startswith("marketsvc: PROVIDER_TIMEOUT=")


@pytest.fixture
def serving(
    tmp_path: Path, pg_url: str, redis_url: str
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = service_env(tmp_path, DATABASE_URL=pg_url, REDIS_URL=redis_url, LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [sys.executable, "-m", "marketsvc", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_good_configuration_passes_the_checks_and_serves(
    serving: tuple[subprocess.Popen[str], int],
) -> None:
    """PostgreSQL and Redis both configured and up: the checks pass, /healthz and /readyz
    answer 200, and SIGTERM ends it with status 0 and nothing on stderr but log lines."""
    proc, port = serving
    deadline = time.monotonic() + TIMEOUT
    status = 0
    while status != 200:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "not serving in time"
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
        except httpx.TransportError:
            time.sleep(0.1)
    assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    proc.terminate()
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not [line for line in err.splitlines() if line.startswith("marketsvc:")], err
    for secret in SECRETS.values():
        assert secret not in err
