"""What an operator reads: ``marketsvc serve --sandbox`` as a real process at LOG_LEVEL=INFO,
its output parsed line by line.

The scheduler runs (a 1 s crypto refresh) so APScheduler really has jobs to chatter about;
none of that may reach INFO."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._services import MarketsvcProcess, free_port, wait_until

GENERATED = re.compile(r"[0-9a-f]{16}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, MarketsvcProcess]]:
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}",
        "LOG_LEVEL": "INFO",
        "SCHEDULER_ENABLED": "true",
        "WATCHLIST_CRYPTO": "BTC",
        "WATCHLIST_STOCKS": "AAPL",
        "JOB_CRYPTO_PRICES_INTERVAL": "1",
    }
    proc = MarketsvcProcess(["serve", "--sandbox", "--port", str(port)], env, tmp_path, "svc")
    root = f"http://127.0.0.1:{port}"
    try:
        proc.start(f"{root}/readyz")
        yield root, proc
    finally:
        proc.stop()


def crypto_runs(root: str) -> int:
    stats = httpx.get(f"{root}/api/market/stats", timeout=5).json()
    return int(stats["scheduler"]["jobs"]["crypto_prices"]["runs"])


def test_access_lines_request_ids_and_quiet_json_output(
    served: tuple[str, MarketsvcProcess],
) -> None:
    root, proc = served
    with httpx.Client(base_url=root, timeout=10) as c:
        given = c.get("/api/market/price/BTC", headers={"X-Request-ID": "test-123"})
        fresh = c.get("/api/market/price/ETH")
        l1_hit = c.get("/api/market/price/ETH")
        missing = c.get("/api/market/nope")
        hostile = c.get("/api/market/price/BTC", headers={"X-Request-ID": "z" * 500})
        secret = c.get("/api/market/price/BTC", params={"token": "QUERY-SECRET-9"})
    wait_until(lambda: crypto_runs(root) >= 1, timeout=30, interval=0.3)
    proc.stop()

    answers = [given, fresh, l1_hit, missing, hostile, secret]
    assert [r.status_code for r in answers] == [200, 200, 200, 404, 200, 200]
    assert given.headers["x-request-id"] == "test-123"
    for r in answers[1:]:
        assert GENERATED.fullmatch(r.headers["x-request-id"]), r.headers
    assert l1_hit.headers["server-timing"].startswith("l1;")

    raw = proc.output()
    assert "\x1b" not in raw and "\\u001b" not in raw
    lines: list[dict[str, Any]] = [json.loads(line) for line in raw.splitlines() if line]
    assert all("color_message" not in line for line in lines)
    assert "QUERY-SECRET-9" not in raw

    access = [line for line in lines if line["logger"] == "marketsvc.access"]
    for r in answers:
        rid = r.headers["x-request-id"]
        (line,) = [a for a in access if a["request_id"] == rid]
        timing = r.headers.get("server-timing")
        assert line["status"] == r.status_code
        assert line["tier"] == (timing.split(";")[0] if timing else None)
        assert line["method"] == "GET" and line["path"] == r.url.path
        assert line["level"] == "INFO"
    assert [a["tier"] for a in access if a["request_id"] == l1_hit.headers["x-request-id"]] == [
        "l1"
    ]
    (secret_line,) = [a for a in access if a["request_id"] == secret.headers["x-request-id"]]
    assert secret_line["query"] == "token=***"

    info = [line for line in lines if line["level"] == "INFO"]
    assert not [line for line in info if line["logger"].startswith("apscheduler")]
    assert not [line for line in info if "Running job" in line["msg"]]
    assert not [line for line in info if "executed successfully" in line["msg"]]
