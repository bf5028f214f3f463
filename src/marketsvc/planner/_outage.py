"""The arithmetic of switching between the shared (Redis) limiter and local shares, so neither
switch lets the replicas together exceed a limit. Pure: times are passed in.

Going local. Each replica then grants at most ``share = limit // replicas`` per window, so the
local grants of all replicas together stay within the limit *in windows that lie wholly inside
the outage*. A window that straddles the switch also holds the calls already granted through
Redis, and a replica must count them against its share or the sum overshoots (3 replicas at
4/second once granted 4 through Redis and 1 more locally within 0.95 s). A replica knows the
window totals Redis reported with its last answer; other replicas may have been granted more
since, but no more than the limits allow over that gap: at most ``limit_j · ⌈gap / window_j⌉``
for every window ``j``, and never more than window ``i`` had left. So each window starts with
``seen + unseen bound``: short windows are in effect waited out, long ones (a day, a month)
only lose what the short ones could have let through.

Coming back. Redis never saw the local grants; a replica pushes its own into Redis when it
returns, plus an allowance for what the replicas still on local shares may grant until they
return too (their share per window, bounded the same way over the outage).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from marketsvc.domain import RateLimit


def shares(limits: Sequence[RateLimit], replica_count: int) -> tuple[int, ...]:
    """Each replica's part of every window while Redis is away. May be 0 (more replicas than
    units): then that replica grants nothing locally; rounding up would overshoot the limit."""
    return tuple(limit.limit // replica_count for limit in limits)


def gap_bound(limits: Sequence[RateLimit], gap: float) -> int:
    """The most units any replicas together can have been granted in ``gap`` seconds."""
    if gap <= 0:
        return 0
    return min(limit.limit * math.ceil(gap / limit.window) for limit in limits)


def unseen(limits: Sequence[RateLimit], seen: Sequence[int], gap: float) -> tuple[int, ...]:
    """Per window, the most units granted since an observation ``gap`` seconds old that showed
    ``seen`` units in each window."""
    bound = gap_bound(limits, gap)
    return tuple(
        max(0, min(limit.limit - used, bound)) for limit, used in zip(limits, seen, strict=True)
    )


def allowance_for_others(
    limits: Sequence[RateLimit], replica_count: int, outage: float
) -> tuple[int, ...]:
    """Per window, the most the *other* replicas can have granted on local shares during an
    outage of ``outage`` seconds (which includes the time until they notice Redis is back)."""
    parts = shares(limits, replica_count)
    out: list[int] = []
    for part in parts:
        # One replica's local grants over the outage, bounded by its shares of every window.
        own_bound = min(
            share * math.ceil(max(outage, 1e-9) / limit.window)
            for share, limit in zip(parts, limits, strict=True)
        )
        out.append((replica_count - 1) * min(part, own_bound))
    return tuple(out)


def inside(
    grants: Sequence[tuple[float, int]], limits: Sequence[RateLimit], now: float
) -> tuple[int, ...]:
    """Per window, the units of ``grants`` (time, weight) still inside it at ``now``."""
    return tuple(sum(w for at, w in grants if at > now - limit.window) for limit in limits)
