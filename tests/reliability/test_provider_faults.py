"""Upstream faults injected in the emulator process while ``marketsvc serve`` is under load.

Every fault kind is put on the first provider of both quote chains (Finnhub for stocks,
Binance for crypto) for the whole load; each request bypasses the cache (``force_refresh``),
so each one really goes through the chain and must be answered by the next provider.

Figures held, per fault kind: failed requests = 0 (a fallback provider exists), answers from
the faulted provider = 0, calls over any provider's limit (or inside a 429 block) = 0.
With every provider failing, keys already cached are answered from the cache (failed = 0) and
keys never seen get 503 + Retry-After (0 other errors).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.reliability._load import (
    Outcome,
    Recorder,
    load_client,
    percentile,
    request,
    scaled,
    sustain,
)
from tests.reliability._procs import providers_available
from tests.reliability.conftest import STOCK_SYMBOLS, Emulator, Service, ServiceFactory

pytestmark = pytest.mark.reliability

CRYPTO_SYMBOLS = ["BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "LTC"]
PRIMARY = {"stock": "finnhub", "crypto": "binance"}
PROVIDER_TIMEOUT = 0.5

# name -> (emulator fault kind, parameters). "timeout" answers slower than PROVIDER_TIMEOUT;
# "hang" never answers; "throttle" answers every call 429 + Retry-After: 1 (a 429 storm) and
# blocks the provider for that second: a call inside the block counts as over the limit.
FAULTS: dict[str, tuple[str, dict[str, object]]] = {
    "error": ("error", {"status": 500}),
    "timeout": ("latency", {"seconds": 3 * PROVIDER_TIMEOUT}),
    "hang": ("hang", {}),
    "malformed": ("malformed", {}),
    "throttle": ("throttle", {"seconds": 1.0}),
}


def _url(n: int) -> str:
    if n % 2:
        return f"/api/market/price/{STOCK_SYMBOLS[n // 2 % len(STOCK_SYMBOLS)]}?force_refresh=true"
    return f"/api/market/price/{CRYPTO_SYMBOLS[n // 2 % len(CRYPTO_SYMBOLS)]}?force_refresh=true"


def _stock_url(n: int) -> str:
    return f"/api/market/price/{STOCK_SYMBOLS[n % len(STOCK_SYMBOLS)]}?force_refresh=true"


def _summary(name: str, outcomes: list[Outcome], emulator: Emulator) -> str:
    elapsed = [o.elapsed for o in outcomes]
    sources = sorted({o.source or "-" for o in outcomes})
    return (
        f"\n[{name}] requests={len(outcomes)} failed={sum(not o.ok for o in outcomes)} "
        f"p50={percentile(elapsed, 50) * 1000:.0f} ms p99={percentile(elapsed, 99) * 1000:.0f} ms "
        f"max={max(elapsed):.2f} s sources={sources} over_limit={emulator.over_limit()}"
    )


async def _drive(
    svc: Service, seconds: float, concurrency: int, pause: float, url: Callable[[int], str] = _url
) -> list[Outcome]:
    recorder = Recorder()
    stop = asyncio.Event()
    async with load_client(svc.root) as client:
        task = asyncio.create_task(
            sustain(client, url, concurrency=concurrency, stop=stop, recorder=recorder, pause=pause)
        )
        await asyncio.sleep(seconds)
        stop.set()
        await task
    return recorder.outcomes


@pytest.mark.parametrize(
    "name",
    [*FAULTS, "throttle+redis"],
)
async def test_primary_provider_fault_falls_back(
    name: str, emulator: Emulator, start_service: ServiceFactory, request: pytest.FixtureRequest
) -> None:
    """Figure: 0 failed requests, 0 answers from the faulted providers, 0 calls over limit.
    ``throttle+redis`` runs the 429 storm with the shared (Redis) limiter of a multi-replica
    deployment; the others use the single-process limiter."""
    assert {"finnhub", "binance", "yahoo"} <= set(providers_available())
    kind, _, limiter = name.partition("+")
    env = {"PROVIDER_TIMEOUT": str(PROVIDER_TIMEOUT)}
    if limiter == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    if kind == "throttle":
        # Calls already on the wire when a 429 lands cannot know of it and would count as
        # "inside the block": one call at a time per provider makes the count exact.
        env["CALL_PLANNER_WORKERS"] = "1"
    svc = start_service(**env)
    for provider in PRIMARY.values():
        emulator.fault(provider, FAULTS[kind][0], **FAULTS[kind][1])
    # Paced so the fallbacks stay within their free tiers over the load (Yahoo 60/minute for
    # stocks, CoinGecko 30/minute for crypto): ~40 requests in either form. The saturated case
    # is test_saturated_fallback_stays_within_limits. Under a 429 storm each request lasts
    # seconds, so a shorter load already gives several.
    seconds = scaled(2.0, 10.0) if kind == "throttle" else scaled(4.0, 30.0)
    outcomes = await _drive(svc, seconds, concurrency=4, pause=scaled(0.4, 3.5))
    print(_summary(name, outcomes, emulator))
    failed = [o for o in outcomes if not o.ok]
    assert len(outcomes) >= 4
    assert failed == [], f"figure: failed requests = 0 under {name}; {Recorder.describe(failed)}"
    faulted = [o for o in outcomes if o.source in PRIMARY.values()]
    assert faulted == [], f"{len(faulted)} answers claim the faulted provider: {faulted[:2]}"
    stats = emulator.stats()
    assert all(stats[p]["calls"] > 0 for p in PRIMARY.values()), "faulted providers were tried"
    over = {p: n for p, n in emulator.over_limit().items() if n}
    assert over == {}, f"figure: calls over limit = 0; got {over}"


async def test_saturated_fallback_stays_within_limits(
    emulator: Emulator, start_service: ServiceFactory
) -> None:
    """Finnhub fails and stock load far beyond Yahoo's 60/minute falls on Yahoo. (Adapters'
    own lookups — Yahoo's crumb, Alpha Vantage's SYMBOL_SEARCH — fit in the headroom the
    planner keeps per window: ProviderInfo.lookup_weight.)
    Figure: calls over limit = 0 (the planner holds every fallback provider to its limit);
    failed requests = 0 (past the budgets, answers come from the cache)."""
    svc = start_service(PROVIDER_TIMEOUT=str(PROVIDER_TIMEOUT))
    emulator.fault("finnhub", "error", status=500)
    outcomes = await _drive(svc, scaled(4.0, 20.0), concurrency=8, pause=0.0, url=_stock_url)
    print(_summary("saturated", outcomes, emulator))
    assert emulator.stats()["yahoo"]["calls"] >= 60, "the load really saturated Yahoo"
    failed = [o for o in outcomes if not o.ok]
    assert failed == [], f"figure: failed requests = 0; {Recorder.describe(failed)}"
    over = {p: n for p, n in emulator.over_limit().items() if n}
    assert over == {}, f"figure: calls over limit = 0; got {over}"


async def test_every_provider_down_answers_from_cache(
    emulator: Emulator, start_service: ServiceFactory
) -> None:
    """Figure: with every provider failing, 0 failed requests for cached keys; uncached keys
    get 503 + Retry-After and nothing else (0 × 500, 0 unanswered)."""
    svc = start_service(PROVIDER_TIMEOUT=str(PROVIDER_TIMEOUT))
    warm = [
        *(f"/api/market/price/{s}" for s in STOCK_SYMBOLS[:4]),
        *(f"/api/market/price/{s}" for s in CRYPTO_SYMBOLS[:4]),
        "/api/market/news?query=apple",
        "/api/market/fundamentals/AAPL",
    ]
    async with load_client(svc.root) as client:
        for url in warm:
            got = await request(client, url)
            assert got.ok, got
        for provider in providers_available():
            emulator.fault(provider, "error", status=500)
        cached: list[Outcome] = []
        uncached: list[Outcome] = []
        rounds = int(scaled(2, 10))
        for _ in range(rounds):
            cached += await asyncio.gather(
                *(request(client, f"{u}{'&' if '?' in u else '?'}force_refresh=true") for u in warm)
            )
            uncached += await asyncio.gather(
                *(request(client, f"/api/market/price/{s}") for s in STOCK_SYMBOLS[6:10])
            )
    print(_summary("all-down cached", cached, emulator))
    failed = [o for o in cached if not o.ok]
    assert failed == [], f"figure: 0 failed requests for cached keys; {Recorder.describe(failed)}"
    assert all(o.tier and o.tier != "upstream" for o in cached), "answered from the cache"
    wrong = [o for o in uncached if o.status != 503 or not o.retry_after]
    assert wrong == [], f"figure: uncached keys get 503 + Retry-After only; got {wrong[:3]}"
    assert len(uncached) == 4 * rounds
    over = {p: n for p, n in emulator.over_limit().items() if n}
    assert over == {}, f"figure: calls over limit = 0; got {over}"
