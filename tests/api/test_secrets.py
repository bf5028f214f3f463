"""Sentinel keys for every keyed provider and the admin token: after driving every endpoint,
including failures, no sentinel appears in any response, header, log line, metric or
database row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from marketsvc.config import KEYLESS_PROVIDERS, PROVIDER_NAMES
from marketsvc.sandbox._framework import Fault
from tests.api.conftest import make_settings, running_app

SENTINELS = {
    f"{name}_api_key": f"SENTINEL-{name.upper()}-9f3a1c"
    for name in PROVIDER_NAMES
    if name not in KEYLESS_PROVIDERS
}
ADMIN = "SENTINEL-ADMIN-TOKEN-77b2"


async def test_no_secret_anywhere(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path, admin_token=ADMIN, log_level="DEBUG", **SENTINELS)
    seen: list[str] = []
    async with running_app(settings) as (app, c):
        state = app.state.container.sandbox_app.state.sandbox
        auth = {"Authorization": f"Bearer {ADMIN}"}
        requests = [
            ("GET", "/api/market/price/AAPL", None),
            ("GET", "/api/market/price/BTC?validate=true", None),
            ("GET", "/api/market/price/NOPE123", None),
            ("GET", "/api/market/historical/AAPL?days=20", None),
            ("GET", "/api/market/news?query=apple", None),
            ("GET", "/api/market/technical/MSFT?indicators=rsi", None),
            ("GET", "/api/market/fundamentals/AAPL", None),
            ("POST", "/api/market/market-data", {"data_type": "news", "params": {"query": "x"}}),
        ]
        for method, url, body in requests:
            resp = await c.request(method, url, json=body)
            seen.append(resp.text + str(dict(resp.headers)))
        # Failures of every kind at the upstream: errors, throttles, malformed bodies.
        for name in state.providers:
            for kind in ("error", "throttle", "malformed"):
                state.providers[name].faults.append(Fault(kind=kind, count=1, seconds=1))
        for url in (
            "/api/market/price/MSFT?force_refresh=true",
            "/api/market/news?query=tesla&force_refresh=true",
            "/api/market/fundamentals/MSFT?force_refresh=true",
        ):
            resp = await c.get(url)
            seen.append(resp.text + str(dict(resp.headers)))
        for url in (
            "/api/market/stats",
            "/api/market/health",
            "/api/market/cache/stats",
            "/metrics",
        ):
            seen.append((await c.get(url)).text)
        resp = await c.post("/api/market/cache/clear", json={}, headers=auth)
        seen.append(resp.text + str(dict(resp.headers)))
        resp = await c.post(
            "/api/market/cache/clear", json={}, headers={"Authorization": "Bearer x"}
        )
        seen.append(resp.text + str(dict(resp.headers)))
    out, err = capfd.readouterr()
    seen += [out, err]
    db = sqlite3.connect(tmp_path / "api.db")
    try:
        for table in ("cache_entries", "candles", "provider_calls"):
            for row in db.execute(f"SELECT * FROM {table}"):
                seen.append(repr(row))
    finally:
        db.close()
    text = "\n".join(seen)
    assert len(err) > 0, "expected log output to sweep"
    leaked = [s for s in [*SENTINELS.values(), ADMIN] if s in text]
    assert leaked == [], f"secrets leaked: {leaked}"
