"""What the provider streams deliver, in the shared vocabulary (vendor names mapped away)."""

from __future__ import annotations

from dataclasses import dataclass

from marketsvc.domain import AssetClass


def symbol_key(asset_class: AssetClass, symbol: str) -> str:
    """The cache's symbol key (``crypto:BTC``), also the streams' routing key."""
    return f"{asset_class.value}:{symbol}"


@dataclass(frozen=True, slots=True)
class Tick:
    """A price update: a 24 h ticker (``kind="ticker"``) or a single trade (``"trade"``)."""

    provider: str
    symbol: str
    asset_class: AssetClass
    price: float
    ts: float  # the provider's own event time, epoch seconds
    kind: str = "ticker"
    volume: float | None = None
    change: float | None = None
    change_percent: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    previous_close: float | None = None

    @property
    def key(self) -> str:
        return symbol_key(self.asset_class, self.symbol)


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """One Binance ``depthUpdate``: levels changed between update ids ``first_id..last_id``."""

    symbol: str
    first_id: int
    last_id: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    ts: float


Event = Tick | DepthDiff


class StreamProtocolError(Exception):
    """A frame the protocol cannot read (malformed JSON, unknown shape)."""


class StreamAuthError(Exception):
    """The provider refused our credentials (never carries them)."""
