"""The Provider protocol, documented once here rather than in every adapter.

An adapter turns one vendor's HTTP API into the shared domain models (``marketsvc.domain``).
Symbols come in canonical form (``BTC``, ``AAPL``, ``BRK.B``) with an asset class; each adapter
maps them to its vendor's convention (``bitcoin``, ``BTCUSDT``, ``X:BTCUSD``, ``BTC-USD``...).

Every failure is raised as a ``marketsvc.errors.ProviderError`` subclass:

- ``RateLimitedError`` (with ``retry_after`` seconds when the vendor said) — including each
  vendor's own signal (Alpha Vantage's HTTP 200 + ``Note``/``Information``, NewsAPI
  ``rateLimited``, Binance 418/429, CoinGecko's HTML 429 page...);
- ``ProviderAuthError`` for a missing/invalid key or an endpoint outside the plan;
- ``SymbolNotFoundError`` when the vendor does not know the symbol;
- ``ProviderUnavailableError`` for timeouts, connection errors and 5xx;
- ``BadDataError`` for non-JSON bodies, schema mismatches and oversized bodies;
- ``UnsupportedError`` when the adapter cannot do the operation (or not for that asset class).

Adapters never call each other, never sleep or retry (the planner does), and never put the
key into an error message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from marketsvc.domain import (
    Article,
    AssetClass,
    Candle,
    Capability,
    Freshness,
    Fundamentals,
    Interval,
    Quote,
    SymbolMatch,
)
from marketsvc.errors import ProviderError


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What an adapter can do, declared once; the orchestrator and planner read it."""

    name: str
    asset_classes: frozenset[AssetClass]
    capabilities: frozenset[Capability]
    # Largest number of symbols one batch-quote call may carry (1 = no batch endpoint).
    max_batch: int = 1
    history_intervals: frozenset[Interval] = frozenset()
    # Most bars one history call returns (the history store pages by it); 0 = no history.
    max_bars_per_call: int = 0
    # Request weight per operation ("quote", "quotes", "history", "news", "fundamentals",
    # "search", "health"); missing operations weigh 1. Binance's batch weights vary with the
    # batch size, so ``Provider.weight`` may override this table.
    weights: Mapping[str, int] = field(default_factory=dict)
    # How fresh a quote from this provider's free tier is.
    quote_freshness: Freshness = Freshness.NEAR_REALTIME
    # Every request inside a granted call is charged one unit (CALL_BUDGET); a lookup that
    # weighs more than that (Binance's exchangeInfo: 20) is covered by keeping this much
    # headroom in every window instead.
    lookup_weight: int = 0
    # Asset classes whose full listing this provider knows, so its "unknown symbol" is final
    # there (CoinGecko lists every coin; the stock providers every US ticker). A partial
    # catalogue (Binance lists only its trading pairs) leaves this empty: the chain moves on.
    authoritative_not_found: frozenset[AssetClass] = frozenset()
    # Asset classes whose whole symbol list this provider can hand over (``symbols``): the
    # service's symbol universes are built from these lists.
    symbol_lists: frozenset[AssetClass] = frozenset()


@runtime_checkable
class Provider(Protocol):
    info: ProviderInfo

    async def quote(self, symbol: str, asset_class: AssetClass) -> Quote:
        """Latest price of one symbol."""
        ...

    async def quotes(
        self, symbols: Sequence[str], asset_class: AssetClass
    ) -> Mapping[str, Quote | ProviderError]:
        """Latest prices of up to ``info.max_batch`` symbols in one upstream call.

        The answer has an entry per requested symbol: a Quote, or the error for that symbol
        alone (a symbol missing from the vendor's answer is ``SymbolNotFoundError``). A failure
        of the whole call is raised instead.
        """
        ...

    async def history(
        self,
        symbol: str,
        asset_class: AssetClass,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> list[Candle]:
        """Bars with ``start <= ts < end`` (UTC, bar start), oldest first; at most
        ``info.max_bars_per_call`` of them (the caller pages)."""
        ...

    async def news(self, *, query: str | None, symbol: str | None, limit: int) -> list[Article]:
        """Recent articles matching ``query`` or about ``symbol``, newest first."""
        ...

    async def fundamentals(self, symbol: str) -> Fundamentals:
        """Company profile and key figures of a stock."""
        ...

    async def symbols(self, asset_class: AssetClass) -> list[SymbolMatch]:
        """Every symbol of ``asset_class`` this provider lists (one entry per canonical
        symbol, ``provider_symbol`` in the vendor's form), following the vendor's paging.
        Large and slow to fetch: the service stores it and refreshes it daily; the per-query
        search is answered from that store, never upstream (so ``search`` is no longer part
        of this protocol; adapters keep their vendor search for direct use)."""
        ...

    async def health(self) -> None:
        """The cheapest call that proves the provider answers; raises ProviderError if not."""
        ...

    def weight(self, operation: str, count: int = 1) -> int:
        """Request weight of one call of ``operation`` carrying ``count`` symbols."""
        ...
