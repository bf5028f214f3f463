"""Overload beyond admitted concurrency: with MAX_INFLIGHT_REQUESTS=8 and every upstream call
slowed to 0.5 s, bursts of 100 concurrent requests get 8 admitted (all answered 200) and 92
refused at once with 503 + Retry-After — no queue forms behind the limit.

Figures held: p99 latency of the 503 refusals < 50 ms; admitted requests per burst <= 8 and
0 of them failed; the slowest answer of a burst < 2 × the upstream latency + 1 s (an unbounded
queue would take 100 / 8 × 0.5 s ≈ 6 s).
"""

from __future__ import annotations

import time

import pytest

from marketsvc.symbols import TOP_COINS
from tests.reliability._load import LONG, Outcome, burst, load_client, percentile, request
from tests.reliability.conftest import Emulator, ServiceFactory

pytestmark = pytest.mark.reliability

LIMIT = 8
CLIENTS = 100
UPSTREAM_LATENCY = 0.5
ROUNDS = 10 if LONG else 3
COINS = sorted(TOP_COINS)


async def test_overload_refuses_fast_and_never_queues(
    emulator: Emulator, start_service: ServiceFactory
) -> None:
    """Figure: refusals' p99 < 50 ms, 0 admitted requests failed, admitted per burst <= 8."""
    svc = start_service(
        MAX_INFLIGHT_REQUESTS=str(LIMIT),
        # Enough planner workers that admitted requests never wait for one another upstream.
        CALL_PLANNER_WORKERS="16",
    )
    emulator.fault("binance", "latency", seconds=UPSTREAM_LATENCY)
    outcomes: list[Outcome] = []
    async with load_client(svc.root) as client:
        # Open every connection first (probes are exempt from admission), so the bursts time
        # the service's answer and not TCP handshakes.
        warm = await burst(client, ["/healthz"] * CLIENTS)
        assert all(o.ok for o in warm)
        for round_no in range(ROUNDS):
            urls = [
                f"/api/market/price/{COINS[(round_no + i) % len(COINS)]}?force_refresh=true"
                for i in range(CLIENTS)
            ]
            t0 = time.monotonic()
            results = await burst(client, urls)
            wall = time.monotonic() - t0
            admitted = [o for o in results if o.status != 503]
            refused = [o for o in results if o.status == 503]
            spread = max(o.started for o in results) - min(o.started for o in results)
            assert spread < UPSTREAM_LATENCY / 2, f"burst took {spread:.3f} s to send"
            assert 1 <= len(admitted) <= LIMIT, (
                f"round {round_no}: {len(admitted)} admitted, figure requires <= {LIMIT}"
            )
            failed = [o for o in admitted if not o.ok]
            assert failed == [], f"figure: 0 admitted requests failed; got {failed[:3]}"
            assert all(o.retry_after and int(o.retry_after) >= 1 for o in refused), (
                "every refusal carries Retry-After"
            )
            assert all(o.error and "overloaded" in o.error for o in refused), (
                "refusals are the admission problem+json, not provider failures"
            )
            assert wall < 2 * UPSTREAM_LATENCY + 1.0, (
                f"figure: burst answered in < {2 * UPSTREAM_LATENCY + 1.0} s (no queue); "
                f"took {wall:.2f} s"
            )
            outcomes += results
            round_refusals = [o.elapsed for o in refused]
            print(
                f"\n[overload] round {round_no}: refusal p50="
                f"{percentile(round_refusals, 50) * 1000:.1f} ms max="
                f"{max(round_refusals) * 1000:.1f} ms, burst {wall:.3f} s"
            )
        # Once the burst has drained, the service admits again at once.
        after = await request(client, f"/api/market/price/{COINS[0]}")
        assert after.ok, after
    refusals = [o.elapsed for o in outcomes if o.status == 503]
    p99 = percentile(refusals, 99)
    print(
        f"\n[overload] bursts={ROUNDS}x{CLIENTS} admitted="
        f"{sum(o.status != 503 for o in outcomes)} refused={len(refusals)} "
        f"refusal p50={percentile(refusals, 50) * 1000:.1f} ms p99={p99 * 1000:.1f} ms "
        f"admitted p50={percentile([o.elapsed for o in outcomes if o.ok], 50):.3f} s"
    )
    assert len(refusals) >= ROUNDS * (CLIENTS - LIMIT)
    # Known: a full garbage collection in the service (~70 ms on the 2-core CI machine, no
    # gc.freeze() after start-up) stalls its loop during the long form's fifth burst.
    assert p99 < 0.050, f"figure: refusal p99 < 50 ms; measured {p99 * 1000:.1f} ms"
