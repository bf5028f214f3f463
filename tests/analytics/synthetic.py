"""Seeded synthetic OHLCV series for the analytics tests: a calm random walk, optionally with
every candlestick pattern's shape injected at regular intervals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Candle4 = tuple[float, float, float, float]  # open, high, low, close
Shape = Callable[[float, Candle4], list[Candle4]]


def _doji(p: float, prev: Candle4) -> list[Candle4]:
    return [(p, p * 1.01, p * 0.99, p)]


def _hammer(p: float, prev: Candle4) -> list[Candle4]:
    base = prev[2]  # at the previous candle's low
    return [(base, base * 1.0012, base * 0.975, base * 1.001)]


def _inverted_hammer(p: float, prev: Candle4) -> list[Candle4]:
    o = min(prev[0], prev[3]) * 0.99  # gap down
    return [(o, o * 1.025, o * 0.9999, o * 1.001)]


def _shooting_star(p: float, prev: Candle4) -> list[Candle4]:
    o = max(prev[0], prev[3]) * 1.01  # gap up
    return [(o, o * 1.025, o * 0.9988, o * 0.999)]


def _engulfing(p: float, prev: Candle4) -> list[Candle4]:
    small = (p, p * 1.001, p * 0.994, p * 0.995)
    big = (p * 0.993, p * 1.012, p * 0.992, p * 1.01)
    return [small, big]


def _harami(p: float, prev: Candle4) -> list[Candle4]:
    long = (p, p * 1.042, p * 0.998, p * 1.04)
    inner = (p * 1.025, p * 1.028, p * 1.015, p * 1.02)
    return [long, inner]


def _morning_star(p: float, prev: Candle4) -> list[Candle4]:
    black = (p, p * 1.002, p * 0.955, p * 0.96)
    star = (p * 0.95, p * 0.953, p * 0.945, p * 0.949)
    white = (p * 0.952, p * 0.992, p * 0.95, p * 0.99)
    return [black, star, white]


def _evening_star(p: float, prev: Candle4) -> list[Candle4]:
    white = (p, p * 1.045, p * 0.998, p * 1.04)
    star = (p * 1.05, p * 1.055, p * 1.047, p * 1.051)
    black = (p * 1.047, p * 1.049, p * 1.005, p * 1.01)
    return [white, star, black]


def _three_white_soldiers(p: float, prev: Candle4) -> list[Candle4]:
    out: list[Candle4] = []
    o = p
    for _ in range(3):
        c = o * 1.015
        out.append((o, c * 1.0002, o * 0.998, c))
        o = o + (c - o) * 0.5  # opens inside the previous body
    return out


def _three_black_crows(p: float, prev: Candle4) -> list[Candle4]:
    out: list[Candle4] = [(p, p * 1.012, p * 0.998, p * 1.01)]
    o = p * 1.009
    for _ in range(3):
        c = o * 0.985
        out.append((o, o * 1.002, c * 0.9998, c))
        o = o - (o - c) * 0.5
    return out


SHAPES: dict[str, Shape] = {
    "doji": _doji,
    "hammer": _hammer,
    "inverted_hammer": _inverted_hammer,
    "shooting_star": _shooting_star,
    "engulfing": _engulfing,
    "harami": _harami,
    "morning_star": _morning_star,
    "evening_star": _evening_star,
    "three_white_soldiers": _three_white_soldiers,
    "three_black_crows": _three_black_crows,
}


def candles(
    n: int = 1000, seed: int = 17, *, inject_every: int = 0, sigma: float = 0.01
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open, high, low, close, volume) of a seeded random walk; with ``inject_every`` > 0,
    the pattern shapes in turn every that many candles."""
    rng = np.random.default_rng(seed)
    rows: list[Candle4] = []
    price = 100.0
    shapes = list(SHAPES.values())
    turn = 0
    while len(rows) < n:
        prev = rows[-1] if rows else (price, price, price, price)
        if inject_every and len(rows) >= 20 and len(rows) % inject_every == 0:
            injected = shapes[turn % len(shapes)](price, prev)
            turn += 1
            rows.extend(injected)
            price = injected[-1][3]
            continue
        o = price * (1 + rng.normal(0, sigma / 5))
        c = o * float(np.exp(rng.normal(0, sigma)))
        h = max(o, c) * (1 + abs(rng.normal(0, sigma / 2)))
        lo = min(o, c) * (1 - abs(rng.normal(0, sigma / 2)))
        rows.append((o, h, lo, c))
        price = c
    arr = np.array(rows[:n], dtype=np.float64)
    volume = 1e6 * np.exp(rng.normal(0, 0.2, n))
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], volume
