"""SIGTERM to ``marketsvc serve`` while requests are in flight.

Every upstream call is slowed to 1 s by the emulator, and 16 clients keep requests going;
the clients stop sending, and 0.1 s later (every request in flight has reached the service)
the process gets SIGTERM. uvicorn's graceful shutdown must let each in-flight request finish.

Figures held: failed in-flight requests = 0 (at least 8 were in flight); the process exits
on its own, within the 10 s graceful timeout, after "Application shutdown complete" (the
lifespan closed the Container); exit status 0 (the CLI gives uvicorn a no-op SIGTERM handler to
re-raise into after its graceful shutdown).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from marketsvc.symbols import TOP_COINS
from tests.reliability._load import Recorder, load_client, scaled, sustain
from tests.reliability.conftest import STOCK_SYMBOLS, Emulator, ServiceFactory

pytestmark = pytest.mark.reliability

UPSTREAM_LATENCY = 1.0
CLIENTS = 16
SYMBOLS = [*sorted(TOP_COINS)[:8], *STOCK_SYMBOLS[:8]]


async def test_sigterm_drains_in_flight_requests(
    emulator: Emulator, start_service: ServiceFactory
) -> None:
    """Figure: 0 failed in-flight requests; graceful exit with status 0 in < 10 s."""
    svc = start_service(LOG_LEVEL="INFO", CALL_PLANNER_WORKERS="32")
    for provider in ("binance", "finnhub"):
        emulator.fault(provider, "latency", seconds=UPSTREAM_LATENCY)
    recorder = Recorder()
    stop = asyncio.Event()
    async with load_client(svc.root) as client:
        load = asyncio.create_task(
            sustain(
                client,
                lambda n: f"/api/market/price/{SYMBOLS[n % len(SYMBOLS)]}?force_refresh=true",
                concurrency=CLIENTS,
                stop=stop,
                recorder=recorder,
            )
        )
        await asyncio.sleep(scaled(1.5, 10.0))
        stop.set()  # no new requests: whatever is in flight now is what SIGTERM must drain
        await asyncio.sleep(0.1)
        t_signal = time.monotonic()
        svc.proc.terminate()
        await load
        returncode = await asyncio.to_thread(svc.proc.wait, 15)
        t_exit = time.monotonic()
    in_flight = [o for o in recorder.outcomes if o.started < t_signal < o.started + o.elapsed]
    failed = recorder.failed(in_flight)
    log = svc.proc.output()
    print(
        f"\n[sigterm] requests={len(recorder.outcomes)} in flight at SIGTERM={len(in_flight)} "
        f"failed={len(failed)} exit status={returncode} after {t_exit - t_signal:.2f} s"
    )
    assert len(in_flight) >= CLIENTS // 2, f"only {len(in_flight)} requests were in flight"
    assert failed == [], f"figure: 0 failed in-flight requests; {Recorder.describe(failed)}"
    assert recorder.failed() == [], "no request at all failed"
    assert "Application shutdown complete" in log, log[-2000:]
    assert returncode == 0, f"exit status {returncode}:\n{log[-2000:]}"
    assert t_exit - t_signal < 10.0 + 1.0, "graceful shutdown stays within its 10 s timeout"
