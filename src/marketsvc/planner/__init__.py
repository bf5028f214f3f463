"""The call planner: every upstream call waits here for its provider's budget.

Public names: :class:`CallPlanner` and its :class:`ProviderStats`, :class:`RetryPolicy`; the
limiter contract :class:`Limiter` with :class:`LocalLimiter` (one process, optional
:class:`DatabaseCallLog`) and :class:`RedisLimiter` (shared by every replica); the pure
:class:`SlidingWindowLimiter` and :class:`WindowUsage`.
"""

from marketsvc.planner._lane import ProviderStats
from marketsvc.planner._retry import RetryPolicy
from marketsvc.planner.bucket import SlidingWindowLimiter, WindowUsage
from marketsvc.planner.limiter import CallLog, Limiter, LocalLimiter
from marketsvc.planner.persist import DatabaseCallLog
from marketsvc.planner.planner import CallPlanner
from marketsvc.planner.redis_bucket import RedisLimiter, local_share

__all__ = [
    "CallLog",
    "CallPlanner",
    "DatabaseCallLog",
    "Limiter",
    "LocalLimiter",
    "ProviderStats",
    "RedisLimiter",
    "RetryPolicy",
    "SlidingWindowLimiter",
    "WindowUsage",
    "local_share",
]
