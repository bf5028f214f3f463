"""UniverseService: fetching, storing and serving the symbol universes.

Every provider that can list its symbols (``ProviderInfo.symbol_lists``) is asked for its whole
list through the chain runner (breaker + call planner) at LOW priority, so a user request
never waits behind it. A list replaces the stored one only when the fetch succeeded and was
not empty: a failed refresh keeps serving the last good list.

Schedule: the ``symbol_universes`` job refreshes every list daily (one replica per tick). Each
replica loads the stored lists at start-up in the background (start-up never waits for it;
until then the built-in table answers) and re-reads, every ``sync_interval``, the lists another
replica refreshed. With ``refresh_stale`` a start-up also fetches the lists that are missing or
older than ``max_age`` (a first start, or a service that was down over its refresh).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from marketsvc.db.universes import ListKey, UniverseRepository
from marketsvc.domain import AssetClass, Priority
from marketsvc.errors import PlannerError, ProviderError
from marketsvc.orchestrator.answers import Envelope
from marketsvc.orchestrator.chain_runner import ChainRunner
from marketsvc.providers.base import Provider
from marketsvc.universe import Resolution, Resolver, SymbolUniverses

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 24 * 3600.0
MAX_AGE = 36 * 3600.0
SYNC_INTERVAL = 3600.0
MAX_SEARCH_LIMIT = 50


def with_resolution(env: Envelope, resolution: Resolution) -> Envelope:
    """The answer with its ``resolution`` note (only an ambiguous symbol has one)."""
    note = resolution.note()
    if note is None:
        return env
    return replace(env, extra={**env.extra, "resolution": note})


class UniverseService:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        runner: ChainRunner,
        repo: UniverseRepository | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_age: float = MAX_AGE,
        sync_interval: float = SYNC_INTERVAL,
    ) -> None:
        self.providers = providers
        self.runner = runner
        self.store = SymbolUniverses(repo)
        self.resolver = Resolver(lambda: self.store.index)
        self._clock = clock
        self.max_age = max_age
        self.sync_interval = sync_interval
        self.ready = asyncio.Event()  # set once the start-up load finished
        self.last_refresh: dict[str, Any] = {}

    def lists(self) -> list[ListKey]:
        """(provider, asset class) of every list an enabled provider offers."""
        return [
            (name, ac) for name, p in self.providers.items() for ac in sorted(p.info.symbol_lists)
        ]

    async def refresh(self, keys: Sequence[ListKey] | None = None) -> dict[str, Any]:
        """Fetch lists upstream (all, or ``keys``) at LOW priority and store the good ones;
        entries per list, or the failure's kind."""
        wanted = list(keys) if keys is not None else self.lists()
        deadline = self.runner.deadline(Priority.LOW)

        async def one(name: str, ac: AssetClass) -> tuple[str, int | str]:
            label = f"{name}:{ac.value}"
            try:
                matches = await self.runner.call_one(
                    name,
                    "symbols",
                    lambda p: p.symbols(ac),
                    priority=Priority.LOW,
                    deadline=deadline,
                )
            except (ProviderError, PlannerError) as exc:
                kind = getattr(exc, "kind", type(exc).__name__)
                log.warning("symbol list refresh failed", extra={"list": label, "error": kind})
                return label, kind
            if not matches:
                return label, "empty"  # never replace a good list with nothing
            await self.store.replace(name, ac, matches, self._clock())
            return label, len(matches)

        results = dict(await asyncio.gather(*(one(n, ac) for n, ac in wanted)))
        self.last_refresh = {"at": self._clock(), "lists": results}
        return results

    async def sync(self, *, refresh_stale: bool) -> dict[str, Any]:
        """Load the lists stored by any replica that are newer than the ones in memory;
        with ``refresh_stale``, fetch those missing or older than ``max_age``."""
        stored = await self.store.stored_stamps()
        held = self.store.stamps()
        newer = [k for k, at in stored.items() if at > held.get(k, -1.0)]
        loaded = await self.store.load(newer) if newer else 0
        stale: list[ListKey] = []
        if refresh_stale:
            now = self._clock()
            stale = [k for k in self.lists() if now - stored.get(k, -1e18) > self.max_age]
        self.ready.set()
        refreshed = await self.refresh(stale) if stale else {}
        return {"loaded": loaded, "refreshed": refreshed}

    async def keep_synced(self, *, refresh_stale: bool) -> None:
        """The per-replica loop: load at start-up, then pick up other replicas' refreshes."""
        first = True
        while True:
            try:
                await self.sync(refresh_stale=refresh_stale and first)
            except Exception as exc:  # storage down: keep serving what is held, try later
                self.ready.set()
                log.warning("symbol universe sync failed", extra={"error": type(exc).__name__})
            first = False
            await asyncio.sleep(self.sync_interval)

    def search(
        self, query: str, asset_class: AssetClass | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Matches from the stored universes only (no upstream call)."""
        hits = self.store.index.search(query, asset_class, max(1, min(limit, MAX_SEARCH_LIMIT)))
        return [
            {
                "symbol": h.entry.symbol,
                "name": h.entry.name,
                "asset_class": h.entry.asset_class.value,
                "providers": list(h.entry.providers),
            }
            for h in hits
        ]

    def stats(self) -> dict[str, Any]:
        return {
            "sizes": self.store.sizes(),
            "fetched_at": {f"{p}:{ac.value}": at for (p, ac), at in self.store.stamps().items()},
            "last_refresh": self.last_refresh,
        }
