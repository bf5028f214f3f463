"""The call planner: every upstream call waits here for its provider's budget.

Public names: :class:`CallPlanner` and its :class:`ProviderStats`, :class:`RetryPolicy`; the
limiter contract :class:`Limiter` with :class:`LocalLimiter` (one process, optional
:class:`DatabaseCallLog`) and :class:`RedisLimiter` (shared by every replica); the pure
:class:`SlidingWindowLimiter` and :class:`WindowUsage`.
"""

from marketsvc.planner._lane import ProviderStats
from marketsvc.planner._retry import RetryPolicy
from marketsvc.planner.call_log import DatabaseCallLog
from marketsvc.planner.limiter import CallLog, Limiter, LocalLimiter
from marketsvc.planner.planner import CallPlanner
from marketsvc.planner.redis_limiter import RedisLimiter, local_share
from marketsvc.planner.window import SlidingWindowLimiter, WindowUsage

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
