"""The scheduled jobs: plain async functions over the shared orchestrator.

Each runs at LOW or BATCH priority so a user request never waits behind it, and forces a
refresh so the cache holds fresh answers when users ask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marketsvc.config import Settings
from marketsvc.domain import Interval, Priority
from marketsvc.errors import MarketsvcError
from marketsvc.jobs.scheduler import JobSpec
from marketsvc.orchestrator import DataOrchestrator
from marketsvc.symbols import resolve

# Symbol lists change slowly (listings, delistings): once a day, at LOW priority.
UNIVERSE_REFRESH_INTERVAL = 24 * 3600.0


async def refresh_prices(
    orch: DataOrchestrator,
    symbols: list[str],
    streamed: Callable[[str], bool] | None = None,
) -> dict[str, int]:
    # A symbol a live stream keeps fresh needs no REST refresh (it costs calls for nothing).
    todo = [s for s in symbols if streamed is None or not streamed(s)]
    results = await orch.prices(todo, priority=Priority.BATCH, force_refresh=True)
    failed = sum(isinstance(r, MarketsvcError) for r in results)
    return {
        "refreshed": len(results) - failed,
        "failed": failed,
        "streamed": len(symbols) - len(todo),
    }


async def refresh_news(orch: DataOrchestrator, topics: list[str]) -> dict[str, int]:
    ok = 0
    for topic in topics:
        try:
            await orch.news(symbol=topic, limit=20, force_refresh=True, priority=Priority.LOW)
            ok += 1
        except MarketsvcError:
            continue
    return {"refreshed": ok}


async def refresh_history(orch: DataOrchestrator, symbols: list[str]) -> dict[str, int]:
    """Keeps the stored daily history current (only the missing/forming bars are fetched)."""
    ok = 0
    for symbol in symbols:
        try:
            await orch.historical(
                symbol, interval=Interval.DAY, days=365, force_refresh=True, priority=Priority.BATCH
            )
            ok += 1
        except MarketsvcError:
            continue
    return {"refreshed": ok}


async def refresh_technical(orch: DataOrchestrator, symbols: list[str]) -> dict[str, int]:
    ok = 0
    for symbol in symbols:
        try:
            await orch.technical(
                symbol,
                indicators=["sma", "ema", "rsi", "macd", "bbands"],
                force_refresh=True,
                priority=Priority.BATCH,
            )
            ok += 1
        except MarketsvcError:
            continue
    return {"refreshed": ok}


async def warm_cache(
    orch: DataOrchestrator, streamed: Callable[[str], bool] | None = None
) -> dict[str, int]:
    """Re-fetch the most requested symbols (tracked by the orchestrator)."""
    symbols = orch.top_symbols("crypto", 10) + orch.top_symbols("stock", 10)
    if not symbols:
        return {"warmed": 0}
    return await refresh_prices(orch, symbols, streamed)


async def check_health(orch: DataOrchestrator) -> dict[str, str]:
    """Probe every provider whose circuit is not open; feeds /health."""
    return await orch.probe_providers()


async def validate_watchlist(orch: DataOrchestrator, symbols: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for symbol in symbols:
        result = await orch.validate_price(resolve(symbol), Priority.LOW)
        out[symbol] = result["status"]
    return out


def default_jobs(
    orch: DataOrchestrator,
    settings: Settings,
    *,
    streamed: Callable[[str], bool] | None = None,
) -> list[JobSpec]:
    crypto = settings.watchlist("crypto")
    stocks = settings.watchlist("stocks")
    both = crypto + stocks
    return [
        JobSpec(
            "crypto_prices",
            settings.job_crypto_prices_interval,
            lambda: refresh_prices(orch, crypto, streamed),
        ),
        JobSpec(
            "stock_prices",
            settings.job_stock_prices_interval,
            lambda: refresh_prices(orch, stocks, streamed),
        ),
        JobSpec(
            "news", settings.job_news_interval, lambda: refresh_news(orch, crypto[:2] + stocks[:2])
        ),
        JobSpec("historical", settings.job_history_interval, lambda: refresh_history(orch, both)),
        JobSpec(
            "technical", settings.job_technical_interval, lambda: refresh_technical(orch, both)
        ),
        JobSpec("cache_warming", settings.job_warming_interval, lambda: warm_cache(orch, streamed)),
        JobSpec("provider_health", settings.job_health_interval, lambda: check_health(orch)),
        JobSpec(
            "validation", settings.job_validation_interval, lambda: validate_watchlist(orch, both)
        ),
        JobSpec("cache_sweep", 3600.0, orch.sweep_cache),
        JobSpec("symbol_universes", UNIVERSE_REFRESH_INTERVAL, orch.refresh_universes),
    ]
