"""Anomaly events for stream subscribers: each anomaly the detector reports for a followed
symbol is pushed once, labelled, and a symbol without history is skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson

from marketsvc.domain import Freshness
from marketsvc.errors import InvalidInputError
from marketsvc.orchestrator import Envelope
from marketsvc.streams.anomaly_watch import AnomalyWatch

SPIKE = {"kind": "return", "ts": "2026-11-30T00:00:00Z", "value": 0.12, "score": 10.9}


class FakeAnalytics:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def anomalies(self, symbols: list[str], **_: Any) -> Envelope:
        self.asked.append(symbols[0])
        if symbols[0] == "NEW":
            raise InvalidInputError("no stored candles for NEW")
        data = {"results": [{"symbol": symbols[0], "asset_class": "crypto", "anomalies": [SPIKE]}]}
        now = datetime.now(UTC)
        return Envelope(orjson.dumps(data), "binance", True, Freshness.DELAYED, 0.0, now)


async def test_each_anomaly_is_pushed_once_with_its_source_and_label() -> None:
    analytics = FakeAnalytics()
    sent: list[tuple[str, dict[str, Any]]] = []
    watch = AnomalyWatch(
        SimpleNamespace(analytics=analytics),  # type: ignore[arg-type]
        lambda key, body: sent.append((key, orjson.loads(body))),
        sandbox=True,
    )
    assert await watch.check(["crypto:BTC", "crypto:NEW"]) == 1
    assert await watch.check(["crypto:BTC"]) == 0  # already sent
    [(key, message)] = sent
    assert key == "crypto:BTC"
    assert message["type"] == "anomaly" and message["symbol"] == "BTC"
    assert message["score"] == 10.9 and message["source"] == "binance"
    assert message["sandbox"] is True
    assert analytics.asked == ["BTC", "NEW", "BTC"]
