"""An outage injected in the sandbox emulator raises ``provider_down`` once, resolves it once
after recovery, and both transitions reach the webhook as JSON (after a failed first attempt,
so the retry is exercised). Prints the measured times for the README."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from marketsvc.app import create_app
from marketsvc.config import Settings
from marketsvc.monitor.alerts import Thresholds
from marketsvc.monitor.service import Monitor
from marketsvc.monitor.webhook import WebhookNotifier


async def until(predicate: Callable[[], bool], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("condition not met")


async def test_injected_outage_raises_and_resolves_once(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        sandbox=True,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}",
        scheduler_enabled=False,
        breaker_base_break=0.5,
        log_level="WARNING",
    )
    received: list[dict[str, Any]] = []
    attempts = 0

    def hook(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return httpx.Response(503)  # the receiver hiccups once: the notifier retries
        received.append(json.loads(request.content))
        return httpx.Response(204)

    app = create_app(settings)
    async with LifespanManager(app) as manager:
        container = app.state.container
        notifier = WebhookNotifier(
            "http://hooks.invalid/alerts", first_pause=0.05, transport=httpx.MockTransport(hook)
        )
        notifier.start()
        monitor = Monitor(
            container, interval=0.1, sample_seconds=1, thresholds=Thresholds(), notifier=notifier
        )
        monitor.start()
        control = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=container.sandbox_app), base_url="http://sb"
        )
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t")
        try:
            first = (await api.get("/api/market/price/BTC")).json()
            victim = first["source"]
            fault = {"provider": victim, "kind": "error", "status": 503}
            (await control.post("/_control/faults", json=fault)).raise_for_status()
            t_fault = time.monotonic()
            while container.orchestrator.health()[victim]["status"] != "down":
                await api.post(
                    "/api/market/market-data",
                    json={"data_type": "price", "symbol": "BTC", "force_refresh": True},
                )
            t_down = time.monotonic()
            await until(lambda: bool(monitor.book.active))
            t_raised = time.monotonic()
            assert [a.rule for a in monitor.book.active.values()] == ["provider_down"]

            (await control.delete("/_control/faults")).raise_for_status()
            t_heal = time.monotonic()
            while container.orchestrator.health()[victim]["circuit"]["state"] != "closed":
                await asyncio.sleep(0.1)
                await api.post(
                    "/api/market/market-data",
                    json={"data_type": "price", "symbol": "BTC", "force_refresh": True},
                )
            t_closed = time.monotonic()
            await until(lambda: not monitor.book.active)
            t_resolved = time.monotonic()
            await until(lambda: len(received) >= 2)
            await asyncio.sleep(0.5)  # nothing more arrives: raised once, resolved once
        finally:
            await monitor.aclose()
            await notifier.aclose()
            await control.aclose()
            await api.aclose()

    assert [(p["event"], p["alert"]["rule"], p["alert"]["subject"]) for p in received] == [
        ("raised", "provider_down", victim),
        ("resolved", "provider_down", victim),
    ]
    assert received[1]["alert"]["resolved_at"] >= received[1]["alert"]["raised_at"]
    assert received[0]["sandbox"] is True
    assert notifier.stats()["sent"] == 2 and attempts == 3
    print(
        f"\noutage on {victim}: breaker open {t_down - t_fault:.2f} s after the fault, alert "
        f"raised {t_raised - t_down:.2f} s later; recovered: circuit closed "
        f"{t_closed - t_heal:.2f} s after healing, alert resolved {t_resolved - t_closed:.2f} s "
        f"later\nwebhook payloads: {json.dumps(received)}"
    )
