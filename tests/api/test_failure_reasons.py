"""Why every provider failed, said per provider in the 503 (through the real app): DNS,
refused, HTTP 5xx, throttled, circuit open; the offline hint in real mode; and one WARNING per
provider when it starts failing and when it recovers, not one per request."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from marketsvc.config import PROVIDER_NAMES
from marketsvc.sandbox._framework import Fault
from tests.api.conftest import make_settings, running_app

HINT = "no network? run with SANDBOX=true to use the built-in emulator"


def _only(*names: str) -> dict[str, bool]:
    return {f"{p}_enabled": p in names for p in PROVIDER_NAMES}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connecting is refused


def _failing_logs(caplog: pytest.LogCaptureFixture, provider: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith(f"provider {provider} ")
    ]


async def test_offline_503_says_why_per_provider_with_a_hint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        tmp_path,
        sandbox=False,
        binance_base_url="http://api.binance.invalid",
        coingecko_base_url=f"http://127.0.0.1:{_closed_port()}/api/v3",
        provider_timeout=2,
        **_only("binance", "coingecko"),
    )
    caplog.set_level(logging.WARNING)
    async with running_app(settings) as (_, c):
        for _ in range(3):
            resp = await c.get("/api/market/price/BTC")
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert int(resp.headers["retry-after"]) >= 1
            detail = resp.json()["detail"]
            assert detail == (
                "every provider failed for BTC: binance: DNS lookup failed, "
                f"coingecko: connection refused. {HINT}"
            )
            assert "Error" not in detail and "httpx" not in detail
    assert _failing_logs(caplog, "binance") == ["provider binance is failing: DNS lookup failed"]
    assert _failing_logs(caplog, "coingecko") == [
        "provider coingecko is failing: connection refused"
    ]


async def test_5xx_throttled_and_circuit_open_reasons_then_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, breaker_base_break=30, **_only("binance", "coingecko"))
    caplog.set_level(logging.WARNING)
    async with running_app(settings) as (app, c):
        emulator = app.state.container.sandbox_app.state.sandbox.providers
        emulator["binance"].faults.append(Fault(kind="error", status=502))
        # Longer than the request may take, so the 503 comes at once rather than after it.
        emulator["coingecko"].faults.append(Fault(kind="throttle", seconds=30))
        t0 = time.monotonic()
        resp = await c.get("/api/market/price/ETH")
        assert resp.status_code == 503, resp.text
        assert time.monotonic() - t0 < 2.0
        detail = resp.json()["detail"]
        assert detail.startswith("every provider failed for ETH: binance: HTTP 502, ")
        assert detail.endswith(
            "coingecko: throttled (HTTP 429: rate limit exceeded, retry after 30 s)"
        )
        assert HINT not in detail  # the emulator is not "no network"
        # Binance's breaker opens after repeated failures: the reason says so, and why.
        for _ in range(6):
            resp = await c.get("/api/market/price/SOL")
        detail = resp.json()["detail"]
        assert "binance: circuit open after repeated failures (HTTP 502), retry in" in detail
        assert _failing_logs(caplog, "binance") == ["provider binance is failing: HTTP 502"]

        # Recovery is logged once too.
        emulator["binance"].faults.clear()
        app.state.container.orchestrator.runner.breakers["binance"].open_until = 0.0
        for _ in range(2):
            ok = await c.get("/api/market/price/ADA", params={"force_refresh": "true"})
            assert ok.status_code == 200 and ok.json()["source"] == "binance"
        assert _failing_logs(caplog, "binance") == [
            "provider binance is failing: HTTP 502",
            "provider binance recovered (it was failing: HTTP 502)",
        ]
