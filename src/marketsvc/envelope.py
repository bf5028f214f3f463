"""The answer the orchestrator gives: data plus where it came from and how fresh it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marketsvc import serialize
from marketsvc.domain import Freshness


@dataclass(frozen=True, slots=True)
class Envelope:
    """A data answer plus where it came from and how fresh it is. ``payload`` is the data as
    JSON object bytes, exactly as cached, so the hot path can send it without a round trip
    through Python objects."""

    payload: bytes
    source: str
    cached: bool
    freshness: Freshness
    age_seconds: float
    fetched_at: datetime
    tier: str = "upstream"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return serialize.loads(self.payload)


def freshness_of(native: Freshness, age: float, stale: bool) -> Freshness:
    """A provider's native freshness, downgraded by the answer's age."""
    if stale:
        return Freshness.STALE
    if age < 5 and native is Freshness.REALTIME:
        return Freshness.REALTIME
    if age < 60 and native in (Freshness.REALTIME, Freshness.NEAR_REALTIME):
        return Freshness.NEAR_REALTIME
    return Freshness.DELAYED
