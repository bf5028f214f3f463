"""Axis arithmetic: "nice" price ticks and date labels placed by bar index.

Bars are placed by index, not by time, so weekends and holidays (no bars) leave no gap; the
labels name the dates of the bars they stand under.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

_NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round-numbered ticks inside [lo, hi], about ``target`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in _NICE_STEPS if s * magnitude >= raw)
    first = math.ceil(lo / step) * step
    count = int((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(count)]


def format_price(value: float, step: float) -> str:
    """As many decimals as the tick step has (a BTC axis none, a 2.5 step one, a 0.0005 step
    four), with thousands separators on large numbers."""
    fraction = f"{abs(step):.8f}".rstrip("0").partition(".")[2]
    return f"{value:,.{len(fraction)}f}" if abs(value) >= 10_000 else f"{value:.{len(fraction)}f}"


def date_labels(
    stamps: Sequence[datetime], slot: float, intraday: bool, min_gap: float = 90.0
) -> list[tuple[int, str]]:
    """(bar index, label) pairs at least ``min_gap`` pixels apart. Daily bars read ``14 Mar``
    (with the year on the first label and where it changes); intraday bars read ``14:30``
    (with the day on the first label and where it changes)."""
    if not stamps:
        return []
    every = max(1, math.ceil(min_gap / max(slot, 1e-9)))
    labels: list[tuple[int, str]] = []
    previous: datetime | None = None
    for i in range(0, len(stamps), every):
        ts = stamps[i]
        if intraday:
            new_day = previous is None or ts.date() != previous.date()
            text = ts.strftime("%d %b %H:%M" if new_day else "%H:%M")
        else:
            new_year = previous is None or ts.year != previous.year
            text = ts.strftime("%d %b %Y" if new_year else "%d %b")
        labels.append((i, text))
        previous = ts
    return labels
