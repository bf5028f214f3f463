"""The three vendors' stream frames, built from the synthetic data (pure functions).

Ticks are seeded by (symbol, tick index): every connection sees the same value for the same
instant, a few ticks per second per symbol, stocks included at any hour (synthetic data).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from marketsvc.sandbox._book import Diff, render
from marketsvc.sandbox._synth import price_at

TICK_INTERVAL = 0.25  # seconds: four ticks per second per symbol
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD")


def tick_index(t: float) -> int:
    return math.floor(t / TICK_INTERVAL)


def _noise(symbol: str, k: int) -> float:
    digest = hashlib.blake2b(f"{symbol}:{k}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 0xFFFFFFFF * 2.0 - 1.0


def tick_price(symbol: str, k: int) -> float:
    """The synthetic traded price of ``symbol`` at tick ``k``: the emulator's REST price of that
    minute, moved by a small seeded step so consecutive ticks differ."""
    t = k * TICK_INTERVAL
    value = price_at(symbol, t) * (1.0 + 0.0004 * _noise(symbol, k))
    return round(value, 8 if value < 1 else 4)


def base_of_pair(pair: str) -> str:
    upper = pair.upper()
    for quote in _QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)]
    return upper


def binance_ticker(pair: str, k: int) -> dict[str, Any]:
    base = base_of_pair(pair)
    t = k * TICK_INTERVAL
    last = tick_price(base, k)
    opened = price_at(base, t - 86400)
    change = last - opened
    lo, hi = min(last, opened) * 0.99, max(last, opened) * 1.01
    return {
        "e": "24hrTicker",
        "E": int(t * 1000),
        "s": pair.upper(),
        "p": f"{change:.8f}",
        "P": f"{change / opened * 100:.3f}",
        "w": f"{(last + opened) / 2:.8f}",
        "x": f"{opened:.8f}",
        "c": f"{last:.8f}",
        "Q": "0.01000000",
        "b": f"{last * 0.9999:.8f}",
        "B": "1.00000000",
        "a": f"{last * 1.0001:.8f}",
        "A": "1.00000000",
        "o": f"{opened:.8f}",
        "h": f"{hi:.8f}",
        "l": f"{lo:.8f}",
        "v": "12345.00000000",
        "q": f"{12345 * last:.8f}",
        "O": int((t - 86400) * 1000),
        "C": int(t * 1000),
        "F": 0,
        "L": k,
        "n": k,
    }


def binance_trade(pair: str, k: int) -> dict[str, Any]:
    base = base_of_pair(pair)
    ms = int(k * TICK_INTERVAL * 1000)
    return {
        "e": "trade",
        "E": ms,
        "s": pair.upper(),
        "t": k,
        "p": f"{tick_price(base, k):.8f}",
        "q": f"{0.001 + (abs(_noise(base + 'q', k))):.8f}",
        "T": ms,
        "m": _noise(base + "m", k) > 0,
        "M": True,
    }


def binance_depth(pair: str, diff: Diff, step: float) -> dict[str, Any]:
    return {
        "e": "depthUpdate",
        "E": int(diff.ts * 1000),
        "s": pair.upper(),
        "U": diff.first_id,
        "u": diff.last_id,
        "b": [[render(p, step), render(q, 0.001)] for p, q in diff.bids],
        "a": [[render(p, step), render(q, 0.001)] for p, q in diff.asks],
    }


def finnhub_symbol_base(symbol: str) -> tuple[str, bool]:
    """``AAPL`` → (AAPL, stock); ``BINANCE:BTCUSDT`` → (BTC, crypto)."""
    if ":" in symbol:
        return base_of_pair(symbol.split(":", 1)[1]), True
    return symbol.upper(), False


def finnhub_trades(symbols: list[str], k: int) -> dict[str, Any]:
    ms = int(k * TICK_INTERVAL * 1000)
    data = []
    for s in symbols:
        base, _ = finnhub_symbol_base(s)
        data.append({"c": ["1"], "p": tick_price(base, k), "s": s, "t": ms, "v": 1 + k % 100})
    return {"data": data, "type": "trade"}


def massive_trade(channel: str, k: int) -> dict[str, Any]:
    """One ``T.<sym>`` or ``XT.<BASE-USD>`` event."""
    ev, _, sym = channel.partition(".")
    ms = int(k * TICK_INTERVAL * 1000)
    if ev == "XT":
        base = sym.split("-")[0]
        return {
            "ev": "XT",
            "pair": sym,
            "p": tick_price(base, k),
            "t": ms,
            "s": 0.01,
            "c": [2],
            "i": k,
            "x": 1,
            "r": ms,
        }
    return {
        "ev": "T",
        "sym": sym,
        "x": 4,
        "i": str(k),
        "z": 3,
        "p": tick_price(sym, k),
        "s": 100,
        "c": [0],
        "t": ms,
        "q": k,
    }
