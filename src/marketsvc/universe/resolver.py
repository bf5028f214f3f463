"""Resolution rules: which asset class a request symbol means (contract section 4).

1. A pair (``BTC-USD``, ``BTC/USDT``, ``X:BTCUSD``, ``BTCUSDT``) is crypto; ``asset_class``
   forces either reading. (``symbols.resolve`` applies these, as it always has.)
2. A bare ticker that only one universe knows goes there: ``PEPE`` is crypto, ``PLTR`` stock.
3. A ticker both universes know follows the contract: crypto-first only when it is in the
   known crypto list (the built-in top coins: ``LINK``), otherwise stock (``STX`` is Seagate
   before it is Stacks). The resolution says so and how to force the other reading.
4. A ticker no universe knows is read as a stock, as before: the stock providers decide.

Rule 3's stock reading carries a fallback: when every stock provider says "not found" (a
listing the daily refresh has not caught up with), the crypto reading is tried before a 404.
Until the universes are loaded only the built-in table is known, which is exactly the old
behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marketsvc.domain import AssetClass
from marketsvc.symbols import KNOWN_CRYPTO, Instrument, resolve, validate_symbol
from marketsvc.universe.index import UniverseIndex

_STABLE_QUOTES = ("USDT", "USDC")
_WHAT = {AssetClass.CRYPTO: "the coin", AssetClass.STOCK: "the stock"}


@dataclass(frozen=True, slots=True)
class Resolution:
    instrument: Instrument
    # The reading not chosen, when both universes know the symbol.
    other: AssetClass | None = None
    # The crypto reading to try when the stock chain answers "not found".
    fallback: Instrument | None = None
    reason: str | None = None

    @property
    def ambiguous(self) -> bool:
        return self.other is not None

    def note(self) -> dict[str, Any] | None:
        """The answer's ``resolution`` field: only for an ambiguous symbol."""
        if self.other is None:
            return None
        note: dict[str, Any] = {
            "asset_class": self.instrument.asset_class.value,
            "ambiguous": True,
            "hint": f"asset_class={self.other.value} for {_WHAT[self.other]}",
        }
        if self.reason is not None:
            note["reason"] = self.reason
        return note

    def fell_back(self) -> Resolution:
        """The crypto reading, after the stock providers said "not found"."""
        assert self.fallback is not None
        sym = self.instrument.symbol
        return Resolution(
            self.fallback,
            other=self.instrument.asset_class,
            reason=f"no stock provider knows {sym}; {sym} is a listed coin",
        )


class Resolver:
    """Applies the rules over the current index (read through ``index`` on every call, so a
    refreshed universe takes effect at once)."""

    def __init__(self, index: Callable[[], UniverseIndex]) -> None:
        self._index = index

    def resolve(self, raw: str, forced: AssetClass | None = None) -> Resolution:
        inst = resolve(raw, forced)
        bare = validate_symbol(raw).upper()
        if forced is not None or inst.symbol != bare:
            return Resolution(inst)  # forced, or a pair form
        index = self._index()
        coin = index.knows(bare, AssetClass.CRYPTO)
        stock = index.knows(bare, AssetClass.STOCK)
        if bare in KNOWN_CRYPTO:
            return Resolution(inst, other=AssetClass.STOCK if stock else None)
        if coin and not stock:
            return Resolution(Instrument(bare, AssetClass.CRYPTO))
        if coin and stock:
            crypto = Instrument(bare, AssetClass.CRYPTO)
            return Resolution(inst, other=AssetClass.CRYPTO, fallback=crypto)
        if not stock:
            # A pair of a listed coin and a stablecoin written together: PEPEUSDT.
            for quote in _STABLE_QUOTES:
                base = bare.removesuffix(quote)
                if base != bare and base and index.knows(base, AssetClass.CRYPTO):
                    return Resolution(Instrument(base, AssetClass.CRYPTO))
        return Resolution(inst)
