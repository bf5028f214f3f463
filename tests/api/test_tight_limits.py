"""Tight ``<P>_RATE_LIMITS`` through the real app on the in-process emulator: never a 500,
every conflict explained once at start-up, and /stats shows the configured limit beside the
part kept for lookups."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from marketsvc.config import PROVIDER_NAMES
from marketsvc.domain import Priority, RateLimit
from tests.api.conftest import make_settings, running_app


def _only(*names: str) -> dict[str, bool]:
    return {f"{p}_enabled": p in names for p in PROVIDER_NAMES}


def _windows(stats: dict[str, Any], provider: str) -> list[dict[str, Any]]:
    windows: list[dict[str, Any]] = stats["planner"][provider]["windows"]
    return windows


async def test_two_per_minute_binance_answers_refuses_and_explains(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        tmp_path, binance_rate_limits=RateLimit.parse_many("2/minute"), **_only("binance")
    )
    caplog.set_level(logging.WARNING)
    async with running_app(settings) as (_, c):
        conflicts = [
            r.getMessage()
            for r in caplog.records
            if r.name == "marketsvc.container" and r.levelno == logging.WARNING
        ]
        assert conflicts == [
            "binance: BINANCE_RATE_LIMITS=2/minute allows calls of weight 2 at most, but search "
            "weighs 20: every search call to binance is refused (the next provider answers, or "
            "503 with Retry-After)",
            "binance: BINANCE_RATE_LIMITS=2/minute allows calls of weight 2 at most, but symbols "
            "weighs 20: every symbols call to binance is refused (the next provider answers, or "
            "503 with Retry-After)",
            "binance: BINANCE_RATE_LIMITS=2/minute allows 2 units per window, but a symbol "
            "lookup weighs 20: lookups are refused, so only symbols binance maps without one "
            "are served by it",
            "binance: BINANCE_RATE_LIMITS=2/minute allows calls of weight 2 at most, but a "
            "batch of 100 symbols weighs 40: batches shrink to 20 symbols (weight 2)",
        ]
        # A ticker (weight 2) fits: once per minute.
        first = await c.get("/api/market/price/BTC")
        assert first.status_code == 200, first.text
        assert first.json()["source"] == "binance"
        # The next one has no budget before the deadline; an unmapped symbol needs the
        # exchangeInfo lookup (weight 20), which can never fit: both are clear 503s.
        for path in ("/api/market/price/ETH", "/api/market/price/ZZZQ?asset_class=crypto"):
            resp = await c.get(path)
            assert resp.status_code == 503, resp.text
            assert int(resp.headers["retry-after"]) >= 1
        assert "binance: rate limit reached" in (await c.get("/api/market/price/SOL")).text
        stats = (await c.get("/api/market/stats")).json()
        assert _windows(stats, "binance") == [
            {
                "window": "2/minute",
                "configured": 2,
                "reserved_for_lookups": 0,
                "usable": 2,
                "used": 2,
                "left": 0,
            }
        ]


async def test_lookup_that_can_never_fit_is_refused_by_name(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, binance_rate_limits=RateLimit.parse_many("4/second"), **_only("binance")
    )
    async with running_app(settings) as (_, c):
        resp = await c.get("/api/market/price/ZZZQ", params={"asset_class": "crypto"})
        assert resp.status_code == 503, resp.text
        assert resp.json()["detail"] == (
            "every provider failed for ZZZQ: binance: call of weight 20 exceeds its rate limit "
            "(4 per window)"
        )


async def test_stats_show_configured_reserved_and_usable(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        binance_rate_limits=RateLimit.parse_many("30/minute;6000/day"),
        **_only("binance", "coingecko"),
    )
    async with running_app(settings) as (_, c):
        assert (await c.get("/api/market/price/BTC")).status_code == 200
        stats = (await c.get("/api/market/stats")).json()
    assert _windows(stats, "binance") == [
        {
            "window": "30/minute",
            "configured": 30,
            "reserved_for_lookups": 7,
            "usable": 23,
            "used": 2,
            "left": 21,
        },
        {
            "window": "6000/day",
            "configured": 6000,
            "reserved_for_lookups": 20,
            "usable": 5980,
            "used": 2,
            "left": 5978,
        },
    ]
    # CoinGecko needs no lookup reserve: its whole limit is usable.
    assert [(w["configured"], w["usable"]) for w in _windows(stats, "coingecko")] == [
        (30, 30),
        (10000, 10000),
    ]


async def test_a_user_asking_for_low_priority_still_gets_an_answer_within_the_deadline(
    tmp_path: Path,
) -> None:
    """LOW/BATCH priority orders the queue; it does not make a waiting client wait for the
    background deadline (20 × REQUEST_TIMEOUT)."""
    # Finnhub alone serves stocks, once an hour: the second request must wait for budget.
    off = {f"{name}_enabled": False for name in ("yahoo", "tiingo", "polygon", "alphavantage")}
    settings = make_settings(tmp_path, request_timeout=2, finnhub_rate_limits="1/hour", **off)
    async with running_app(settings) as (app, c):
        first = await c.post(
            "/api/market/market-data", json={"data_type": "stock_price", "symbol": "AAPL"}
        )
        assert first.status_code == 200, first.text
        started = time.monotonic()
        body = {"data_type": "stock_price", "symbol": "MSFT", "priority": "LOW"}
        second = await c.post("/api/market/market-data", json=body)
        waited = time.monotonic() - started
        assert second.status_code == 503 and "retry-after" in second.headers
        assert waited < 2 + 1.5, waited
        runner = app.state.container.orchestrator.runner
        now = runner.planner.now()
        assert runner.deadline(Priority.LOW) - now == pytest.approx(40.0, abs=0.5)  # a job
        with app.state.container.orchestrator.for_user():
            assert runner.deadline(Priority.LOW) - now == pytest.approx(2.0, abs=0.5)
