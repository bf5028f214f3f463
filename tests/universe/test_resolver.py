"""The resolution rules (contract section 4) over a universe index, and the index's search
ranking: only-crypto, only-stock, both (top coin or not), unknown, pairs, forced classes, and
the stock-not-found fallback the resolution carries."""

from __future__ import annotations

import pytest

from marketsvc.domain import AssetClass, SymbolMatch
from marketsvc.errors import InvalidInputError
from marketsvc.symbols import Instrument
from marketsvc.universe import Resolver, UniverseIndex

C, S = AssetClass.CRYPTO, AssetClass.STOCK


def coin(sym: str, name: str, source: str = "coingecko") -> SymbolMatch:
    return SymbolMatch(sym, name, C, sym.lower(), source)


def stock(sym: str, name: str, source: str = "finnhub") -> SymbolMatch:
    return SymbolMatch(sym, name, S, sym, source)


LISTS = [
    [coin("PEPE", "Pepe"), coin("STX", "Stacks"), coin("AAVE", "Aave"), coin("ICP", "ICP")],
    [
        coin("ICP", "Internet Computer", "coinmarketcap"),
        coin("PEPE", "Pepe", "coinmarketcap"),
        coin("PEG", "Pegasus (synthetic)", "coinmarketcap"),
    ],
    [coin("PEPE", "PEPE", "binance"), coin("LINK", "LINK", "binance")],
    [
        stock("PLTR", "PALANTIR TECHNOLOGIES"),
        stock("STX", "SEAGATE TECHNOLOGY"),
        stock("LINK", "INTERLINK ELECTRONICS"),
        stock("PEP", "PEPSICO INC"),
        stock("AAPL", "APPLE INC"),
    ],
    [stock("PLTR", "Palantir Technologies Inc.", "polygon")],
]


@pytest.fixture
def resolver() -> Resolver:
    index = UniverseIndex.build(LISTS)
    return Resolver(lambda: index)


def test_a_symbol_only_a_crypto_list_knows_is_crypto(resolver: Resolver) -> None:
    r = resolver.resolve("pepe")
    assert r.instrument == Instrument("PEPE", C)
    assert not r.ambiguous and r.note() is None and r.fallback is None


def test_a_symbol_only_a_stock_list_knows_is_a_stock(resolver: Resolver) -> None:
    r = resolver.resolve("PLTR")
    assert r.instrument == Instrument("PLTR", S) and r.note() is None


def test_both_lists_know_it_stock_first_with_a_hint_and_a_crypto_fallback(
    resolver: Resolver,
) -> None:
    r = resolver.resolve("STX")
    assert r.instrument == Instrument("STX", S)
    assert r.note() == {
        "asset_class": "stock",
        "ambiguous": True,
        "hint": "asset_class=crypto for the coin",
    }
    assert r.fallback == Instrument("STX", C)
    after = r.fell_back()
    assert after.instrument == Instrument("STX", C) and after.fallback is None
    note = after.note()
    assert note is not None
    assert note["asset_class"] == "crypto" and note["hint"] == "asset_class=stock for the stock"
    assert "no stock provider knows STX" in note["reason"]


def test_a_known_top_coin_that_is_also_a_stock_stays_crypto_first(resolver: Resolver) -> None:
    r = resolver.resolve("LINK")
    assert r.instrument == Instrument("LINK", C)
    assert r.note() == {
        "asset_class": "crypto",
        "ambiguous": True,
        "hint": "asset_class=stock for the stock",
    }
    assert r.fallback is None


def test_unknown_symbols_are_read_as_stocks_as_before(resolver: Resolver) -> None:
    r = resolver.resolve("ZZZQ")
    assert r.instrument == Instrument("ZZZQ", S)
    assert r.note() is None and r.fallback is None


def test_forced_classes_and_pairs_are_not_second_guessed(resolver: Resolver) -> None:
    assert resolver.resolve("STX", C).instrument == Instrument("STX", C)
    assert resolver.resolve("STX", C).note() is None
    assert resolver.resolve("PEPE", S).instrument == Instrument("PEPE", S)
    assert resolver.resolve("PEPE-USD").instrument == Instrument("PEPE", C)
    assert resolver.resolve("pepe/usdt").instrument == Instrument("PEPE", C)
    assert resolver.resolve("PEPEUSDT").instrument == Instrument("PEPE", C)
    assert resolver.resolve("BRK.B").instrument == Instrument("BRK.B", S)
    with pytest.raises(InvalidInputError):
        resolver.resolve("BAD SYMBOL")


def test_before_any_list_loads_only_the_built_in_table_counts() -> None:
    cold = Resolver(lambda: UniverseIndex.build([]))
    assert cold.resolve("BTC").instrument == Instrument("BTC", C)
    assert cold.resolve("PEPE").instrument == Instrument("PEPE", S)  # the old behaviour
    assert cold.resolve("LINK").note() is None  # no stock list: nothing ambiguous yet


def test_resolution_follows_the_index_it_is_given_at_each_call() -> None:
    current = [UniverseIndex.build([])]
    resolver = Resolver(lambda: current[0])
    assert resolver.resolve("AAVE").instrument.asset_class is S
    current[0] = UniverseIndex.build(LISTS)
    assert resolver.resolve("AAVE").instrument.asset_class is C


def test_index_merges_names_and_providers() -> None:
    index = UniverseIndex.build(LISTS)
    icp = index.get("ICP", C)
    assert icp is not None
    assert icp.name == "Internet Computer"  # CMC's name beats CoinGecko's bare ticker
    assert icp.providers == ("coingecko", "coinmarketcap")
    pltr = index.get("PLTR", S)
    assert pltr is not None and pltr.name == "Palantir Technologies Inc."
    assert pltr.providers == ("finnhub", "polygon")
    btc = index.get("BTC", C)  # the built-in table is always in
    assert btc is not None and btc.name == "Bitcoin"
    assert index.size(C) == 6 + 30 - 1 and index.size(S) == 5  # LINK is in both tables


def test_search_ranks_exact_then_prefix_then_names() -> None:
    index = UniverseIndex.build(LISTS)
    hits = [(h.entry.symbol, h.entry.asset_class, h.tier) for h in index.search("pe", limit=10)]
    # Prefix matches: the ranked coin (CMC rank order) first, then the rest; then names.
    assert hits[:3] == [("PEPE", C, 1), ("PEG", C, 1), ("PEP", S, 1)]
    exact = [(h.entry.symbol, h.entry.asset_class) for h in index.search("STX")]
    assert exact[:2] == [("STX", S), ("STX", C)]  # the reading a bare request gets first
    assert [h.entry.symbol for h in index.search("link")][:2] == ["LINK", "LINK"]
    assert index.search("link")[0].entry.asset_class is C
    names = [(h.entry.symbol, h.tier) for h in index.search("computer")]
    assert names == [("ICP", 2)]
    assert [h.entry.symbol for h in index.search("technolog", S)] == ["PLTR", "STX"]
    assert [h.entry.symbol for h in index.search("ega", C)] == ["PEG"]  # inside a word: tier 3
    assert index.search("ega", C)[0].tier == 3
    assert index.search("pe", S, limit=1)[0].entry.symbol == "PEP"
    assert index.search("   ") == [] and index.search("pe", limit=0) == []
