"""marketsvc: one asyncio gateway for market data across rate-limited public providers."""

__version__ = "0.1.0"
