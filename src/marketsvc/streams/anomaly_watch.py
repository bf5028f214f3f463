"""``anomaly`` events for stream subscribers: every ``interval`` seconds the symbols clients
follow on the ticker channel are checked with the anomaly detector (analytics over stored
daily candles, cached like any answer, so a check costs no provider call once the history is
stored) and each anomaly not yet sent is pushed to the symbol's subscribers, once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from marketsvc.domain import AssetClass, Priority
from marketsvc.errors import MarketsvcError
from marketsvc.orchestrator import DataOrchestrator

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]


class AnomalyWatch:
    def __init__(
        self,
        orch: DataOrchestrator,
        publish: Publish,
        *,
        sandbox: bool = False,
        days: int = 180,
    ) -> None:
        self.orch = orch
        self.publish = publish
        self.sandbox = sandbox
        self.days = days
        self._sent: set[tuple[str, str, str]] = set()  # (key, kind, candle ts) already pushed

    async def check(self, keys: Iterable[str]) -> int:
        """Check each ``asset_class:SYMBOL`` key once; returns how many events were pushed."""
        pushed = 0
        for key in sorted(set(keys)):
            asset, _, symbol = key.partition(":")
            try:
                env = await self.orch.analytics.anomalies(
                    [symbol],
                    days=self.days,
                    divergence=False,
                    asset_class=AssetClass(asset),
                    priority=Priority.LOW,
                )
            except (MarketsvcError, ValueError):
                continue  # no history for it (yet): nothing to judge
            for row in env.data.get("results", []):
                for anomaly in row.get("anomalies", []):
                    mark = (key, str(anomaly.get("kind")), str(anomaly.get("ts")))
                    if mark in self._sent:
                        continue
                    self._sent.add(mark)
                    self.publish(key, self._message(row, anomaly, env.source))
                    pushed += 1
        return pushed

    def _message(self, row: dict[str, Any], anomaly: dict[str, Any], source: str) -> bytes:
        message: dict[str, Any] = {
            "type": "anomaly",
            "channel": "ticker",
            "symbol": row.get("symbol"),
            "asset_class": row.get("asset_class"),
            **anomaly,
            "source": source,
        }
        if self.sandbox:
            message["sandbox"] = True
        return orjson.dumps(message)

    async def run(self, keys: Callable[[], Iterable[str]], interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check(keys())
            except Exception:  # a bug here must not stop the stream hub
                log.exception("anomaly watch failed; retrying next interval")
