"""What users ask for: requests in the last hour, the most requested symbols (cache warming
reads them), answers per cache tier and requests in progress."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any


class UsageTracker:
    def __init__(self, clock: Callable[[], float] = time.time, window: float = 3600.0) -> None:
        self._clock = clock
        self._window = window
        self._requests: deque[float] = deque()
        self._symbols: Counter[str] = Counter()
        self._tiers: Counter[str] = Counter()
        self.active = 0

    def track(self, key: str) -> None:
        """One request for ``key`` (``"<asset class>:<symbol>"``)."""
        self._requests.append(self._clock())
        self._expire()
        self._symbols[key] += 1

    def answered(self, tier: str) -> None:
        self._tiers[tier] += 1

    def top(self, kind: str, n: int = 10) -> list[str]:
        prefix = f"{kind}:"
        ranked = [s for s, _ in self._symbols.most_common() if s.startswith(prefix)]
        return [s.removeprefix(prefix) for s in ranked[:n]]

    def _expire(self) -> None:
        horizon = self._clock() - self._window
        while self._requests and self._requests[0] < horizon:
            self._requests.popleft()

    def snapshot(self) -> dict[str, Any]:
        self._expire()
        total = sum(self._tiers.values())
        cached = total - self._tiers.get("upstream", 0)
        return {
            "requests_last_hour": len(self._requests),
            "active_requests": self.active,
            "cache_hit_rate": round(cached / total, 4) if total else None,
            "answers_by_tier": dict(self._tiers),
            "top_symbols": [s for s, _ in self._symbols.most_common(10)],
        }
