"""Symbol normalisation and crypto/stock detection (contract section 4).

Also the built-in table of top coins with each provider's id, so the common cases need no
lookup call; adapters fall back to their provider's own list/search endpoint for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketsvc.domain import SYMBOL_PATTERN, AssetClass
from marketsvc.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Coin:
    symbol: str
    name: str
    coingecko_id: str
    cmc_id: int


TOP_COINS: dict[str, Coin] = {
    c.symbol: c
    for c in (
        Coin("BTC", "Bitcoin", "bitcoin", 1),
        Coin("ETH", "Ethereum", "ethereum", 1027),
        Coin("USDT", "Tether", "tether", 825),
        Coin("BNB", "BNB", "binancecoin", 1839),
        Coin("SOL", "Solana", "solana", 5426),
        Coin("XRP", "XRP", "ripple", 52),
        Coin("USDC", "USDC", "usd-coin", 3408),
        Coin("ADA", "Cardano", "cardano", 2010),
        Coin("DOGE", "Dogecoin", "dogecoin", 74),
        Coin("TRX", "TRON", "tron", 1958),
        Coin("AVAX", "Avalanche", "avalanche-2", 5805),
        Coin("DOT", "Polkadot", "polkadot", 6636),
        Coin("LINK", "Chainlink", "chainlink", 1975),
        Coin("MATIC", "Polygon", "matic-network", 3890),
        Coin("POL", "POL (ex-MATIC)", "polygon-ecosystem-token", 28321),
        Coin("LTC", "Litecoin", "litecoin", 2),
        Coin("BCH", "Bitcoin Cash", "bitcoin-cash", 1831),
        Coin("SHIB", "Shiba Inu", "shiba-inu", 5994),
        Coin("UNI", "Uniswap", "uniswap", 7083),
        Coin("XLM", "Stellar", "stellar", 512),
        Coin("ATOM", "Cosmos", "cosmos", 3794),
        Coin("XMR", "Monero", "monero", 328),
        Coin("ETC", "Ethereum Classic", "ethereum-classic", 1321),
        Coin("FIL", "Filecoin", "filecoin", 2280),
        Coin("APT", "Aptos", "aptos", 21794),
        Coin("ARB", "Arbitrum", "arbitrum", 11841),
        Coin("OP", "Optimism", "optimism", 11840),
        Coin("NEAR", "NEAR Protocol", "near", 6535),
        Coin("TON", "Toncoin", "the-open-network", 11419),
        Coin("SUI", "Sui", "sui", 20947),
    )
}

KNOWN_CRYPTO: frozenset[str] = frozenset(TOP_COINS)
_QUOTE_CURRENCIES = ("USDT", "USDC", "USD")


@dataclass(frozen=True, slots=True)
class Instrument:
    """A normalised request symbol: ``BTC-USD`` → Instrument("BTC", CRYPTO, "USD")."""

    symbol: str
    asset_class: AssetClass
    currency: str = "USD"


def symbol_problem(raw: str) -> str | None:
    """Why ``raw`` is not a symbol, or None when it is one.

    The pattern alone admits ``..``, ``A//B`` and ``AAPL/../../X``: text that an adapter would
    place in an upstream URL path, where ``.`` and ``..`` segments move the request to another
    endpoint. A symbol is at most two parts around one ``/`` (``BTC/USD``), and each part
    names something: it holds a letter or a digit, so ``.``, ``..`` and empty parts fail.
    """
    if not SYMBOL_PATTERN.fullmatch(raw):
        return "must be 1-32 characters of letters, digits and . - : / _ ^ ="
    parts = raw.split("/")
    if len(parts) > 2:
        return "at most one '/' (a pair is BASE/QUOTE, e.g. BTC/USD)"
    for part in parts:
        if not part:
            return "empty part around '/' (a pair is BASE/QUOTE, e.g. BTC/USD)"
        if not any(c.isascii() and c.isalnum() for c in part):
            return f"{part!r} is not a symbol: each part needs a letter or a digit"
    return None


def validate_symbol(raw: str) -> str:
    """``raw`` unchanged when it is a symbol; InvalidInputError saying why otherwise."""
    problem = symbol_problem(raw)
    if problem is not None:
        raise InvalidInputError(f"symbol {raw[:40]!r}: {problem}")
    return raw


def resolve(raw: str, asset_class: AssetClass | None = None) -> Instrument:
    """Normalise ``raw`` and decide crypto or stock: the one check every symbol passes before
    any adapter sees it (InvalidInputError, a 422, when it is not a symbol).

    Pairs (``BTC-USD``, ``BTC/USD``, ``BTCUSDT``) are crypto; a bare ticker is crypto only when
    it is in the known-crypto list; ``asset_class`` forces the answer.
    """
    inst = _classify(validate_symbol(raw).upper(), asset_class)
    # What remains after splitting off a quote (``..-USD`` → ``..``) must be a symbol too.
    problem = symbol_problem(inst.symbol)
    if problem is not None:
        raise InvalidInputError(f"symbol {raw!r}: base {inst.symbol!r}: {problem}")
    return inst


def _classify(symbol: str, asset_class: AssetClass | None) -> Instrument:
    for sep in ("/", "-"):
        base, found, quote = symbol.partition(sep)
        if found and quote in _QUOTE_CURRENCIES and base:
            return Instrument(base, asset_class or AssetClass.CRYPTO, "USD")
    if symbol.startswith("X:") and symbol.endswith("USD"):
        return Instrument(symbol[2:-3], asset_class or AssetClass.CRYPTO, "USD")
    if asset_class is not None:
        return Instrument(symbol, asset_class)
    if symbol in KNOWN_CRYPTO:
        return Instrument(symbol, AssetClass.CRYPTO)
    for quote in ("USDT", "USDC"):
        if symbol.endswith(quote) and symbol[: -len(quote)] in KNOWN_CRYPTO:
            return Instrument(symbol[: -len(quote)], AssetClass.CRYPTO)
    return Instrument(symbol, AssetClass.STOCK)
