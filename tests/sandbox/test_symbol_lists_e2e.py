"""The emulator's symbol lists, read by the real adapters: thousands of coins and tickers,
the same on every run, and every listed symbol quotes (its synthetic price is seeded by the
symbol)."""

from __future__ import annotations

import time

import pytest

from marketsvc.domain import AssetClass
from marketsvc.sandbox import _synth, _universe
from marketsvc.symbols import TOP_COINS
from tests._sandbox import adapter_on_sandbox

C, S = AssetClass.CRYPTO, AssetClass.STOCK
# Massive's 5 calls a minute would throttle its six list pages: relaxed for this read.
LIMITS = {"polygon": "100/minute"}


@pytest.mark.parametrize(
    ("name", "asset_class", "at_least"),
    [
        ("coingecko", C, 5000),
        ("coinmarketcap", C, 5000),
        ("binance", C, 1000),
        ("finnhub", C, 1000),
        ("finnhub", S, 5000),
        ("polygon", S, 5000),
        ("tiingo", S, 5000),
    ],
)
async def test_lists_are_large_and_deterministic(
    name: str, asset_class: AssetClass, at_least: int
) -> None:
    async with adapter_on_sandbox(name, limits=LIMITS) as (provider, state):
        first = await provider.symbols(asset_class)
        calls = len(state.calls)
    async with adapter_on_sandbox(name, limits=LIMITS) as (provider, _):
        second = await provider.symbols(asset_class)
    assert len(first) >= at_least and first == second
    symbols = {m.symbol for m in first}
    if asset_class is C:
        assert {"PEPE", "ICP", "HBAR", "AAVE"} <= symbols
        assert set(TOP_COINS) - {"MATIC", "XMR", "USDT"} <= symbols  # Binance halted two
    else:
        assert {"PLTR", "UBER", "STX", "DASH", "AAPL", "BRK.B"} <= symbols
        assert "OLD001" not in symbols and "600001" not in symbols  # Tiingo's stale rows
    assert calls == {"coinmarketcap": 2, "polygon": 6}.get(name, 1)  # paging, where it pages


def test_generated_coins_are_seeded_and_never_clash_with_stock_tickers() -> None:
    again = _universe.coins(set(_synth.STOCKS))
    assert again == _synth.LISTED_COINS
    coins = {c.symbol for c in _synth.LISTED_COINS}
    assert len(coins) == len(_synth.LISTED_COINS)  # one coin per ticker
    clashes = coins & set(_synth.STOCKS)
    assert clashes == {t for t, _, _ in _universe.AMBIGUOUS}  # only the deliberate ones


@pytest.mark.parametrize(
    ("name", "asset_class", "symbol"),
    [
        ("binance", C, "PEPE"),
        ("coingecko", C, "ICP"),
        ("coinmarketcap", C, "HBAR"),
        ("finnhub", C, "AAVE"),
        ("finnhub", S, "PLTR"),
        ("tiingo", S, "UBER"),
        ("polygon", S, "SHOP"),
    ],
)
async def test_long_tail_symbols_quote_at_their_seeded_price(
    name: str, asset_class: AssetClass, symbol: str
) -> None:
    async with adapter_on_sandbox(name, limits=LIMITS) as (provider, _):
        quote = await provider.quote(symbol, asset_class)
    assert quote.symbol == symbol and quote.asset_class is asset_class
    if name != "polygon":  # Massive's free quote is the previous close
        assert quote.price == pytest.approx(_synth.price_at(symbol, time.time()), rel=0.05)
    assert quote.price > 0
