"""Test doubles shared across the suite."""

from __future__ import annotations

import time
from datetime import datetime


def _seconds(moment: float | datetime) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


class FakeClock:
    """Epoch seconds that move only when a test says so; pass it wherever code takes a
    ``clock: Callable[[], float]``. Without a start it begins at the real time, so TTLs handed
    to a real Redis (stale_until - now) stay sensible."""

    def __init__(self, start: float | datetime | None = None) -> None:
        self.now = time.time() if start is None else _seconds(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, moment: float | datetime) -> None:
        self.now = _seconds(moment)
