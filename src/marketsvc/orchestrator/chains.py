"""Provider chains: which providers serve a (data type, asset class), in order of preference.

Defaults favour the providers with the most generous free limits and the freshest data first;
``<DATA>_<CLASS>_PROVIDERS``-style overrides come from Settings.provider_chains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from marketsvc.domain import AssetClass, Capability

ChainKey = tuple[Capability, AssetClass | None]

DEFAULT_CHAINS: dict[ChainKey, tuple[str, ...]] = {
    (Capability.QUOTE, AssetClass.CRYPTO): (
        "binance",
        "coingecko",
        "coinmarketcap",
        "yahoo",
        "finnhub",
        "tiingo",
        "polygon",
        "alphavantage",
    ),
    (Capability.QUOTE, AssetClass.STOCK): (
        "finnhub",
        "yahoo",
        "tiingo",
        "polygon",
        "alphavantage",
    ),
    (Capability.HISTORY, AssetClass.CRYPTO): (
        "binance",
        "yahoo",
        "coingecko",
        "polygon",
        "tiingo",
        "alphavantage",
        "finnhub",
    ),
    (Capability.HISTORY, AssetClass.STOCK): (
        "yahoo",
        "polygon",
        "tiingo",
        "alphavantage",
        "finnhub",
    ),
    (Capability.NEWS, None): ("newsapi", "finnhub", "polygon", "alphavantage", "tiingo", "yahoo"),
    (Capability.FUNDAMENTALS, AssetClass.STOCK): (
        "finnhub",
        "polygon",
        "yahoo",
        "alphavantage",
        "tiingo",
    ),
}


def chain_for(
    capability: Capability,
    asset_class: AssetClass | None,
    available: Mapping[str, object],
    overrides: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Enabled providers for the pair, preference order; overrides are keyed
    ``"quote:crypto"``, ``"news"``..."""
    key = f"{capability.value}:{asset_class.value}" if asset_class else capability.value
    order = (overrides or {}).get(key) or DEFAULT_CHAINS.get((capability, asset_class), ())
    return [name for name in order if name in available]
