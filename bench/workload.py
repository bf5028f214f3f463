"""The Zipf workload and its ideal upstream cost (pure functions; time is passed in).

The workload draws from the symbols the emulator prices: ~30 coins, the named stocks and the
synthetic SYN0000-SYN4999 tail (unknown symbols would only measure negative caching).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Key:
    symbol: str
    provider: str  # the provider that answers it first in the chain


@dataclass(frozen=True, slots=True)
class Event:
    t: float  # seconds from the workload's start
    key: int  # index into the universe


def known_universe() -> list[Key]:
    """Every symbol the emulator prices: Binance's coins, Yahoo's stocks."""
    from marketsvc.sandbox import _synth
    from marketsvc.symbols import TOP_COINS

    coins = [Key(c, "binance") for c in TOP_COINS if c not in ("USDT",)]
    stocks = [Key(s, "yahoo") for s in _synth.STOCKS if s not in TOP_COINS]
    return coins + stocks


def zipf_cdf(n: int, s: float) -> list[float]:
    """Cumulative probabilities of ranks 1..n under Zipf(s)."""
    weights = [1.0 / (rank**s) for rank in range(1, n + 1)]
    total = sum(weights)
    return list(itertools.accumulate(w / total for w in weights))


def zipf_events(n_keys: int, s: float, rate: float, duration: float, seed: int) -> list[Event]:
    """Requests at a fixed ``rate`` whose keys follow Zipf(``s``) over ``n_keys`` keys (the
    rank → key mapping is shuffled so popularity is not alphabetical)."""
    rng = random.Random(seed)
    cdf = zipf_cdf(n_keys, s)
    order = list(range(n_keys))
    rng.shuffle(order)
    count = int(rate * duration)
    return [
        Event(i / rate, order[min(bisect.bisect_left(cdf, rng.random()), n_keys - 1)])
        for i in range(count)
    ]


def ideal_calls(
    events: Iterable[Event],
    universe: Sequence[Key],
    window: float,
    max_batch: Mapping[str, int],
) -> int:
    """The brief's ideal: Σ over TTL windows and providers of ⌈distinct keys ÷ batch size⌉."""
    seen: dict[tuple[int, str], set[int]] = defaultdict(set)
    for ev in events:
        seen[(int(ev.t // window), universe[ev.key].provider)].add(ev.key)
    return sum(
        math.ceil(len(keys) / max_batch.get(provider, 1)) for (_, provider), keys in seen.items()
    )


def ideal_loads(events: Iterable[Event], ttl: float) -> int:
    """Key loads of a perfect per-key cache: a key loads on its first request after its last
    load went ``ttl`` old. The floor for "one upstream fetch per key per freshness period"."""
    loaded_at: dict[int, float] = {}
    loads = 0
    for ev in sorted(events, key=lambda e: e.t):
        last = loaded_at.get(ev.key)
        if last is None or ev.t - last >= ttl:
            loaded_at[ev.key] = ev.t
            loads += 1
    return loads


def symbols_in_call(query: Mapping[str, str]) -> int:
    """How many symbols one logged upstream call asked for (0: not a quote call)."""
    raw = query.get("symbols")
    if raw:
        if raw.startswith("["):
            return len(orjson.loads(raw))
        return len([s for s in raw.split(",") if s.strip()])
    return 1 if query.get("symbol") else 0


def calls_over_time(stamps: Iterable[float], start: float, bucket: float) -> list[int]:
    """Upstream calls per ``bucket`` seconds from ``start``."""
    counts: dict[int, int] = defaultdict(int)
    for ts in stamps:
        if ts >= start:
            counts[int((ts - start) // bucket)] += 1
    if not counts:
        return []
    return [counts.get(i, 0) for i in range(max(counts) + 1)]
