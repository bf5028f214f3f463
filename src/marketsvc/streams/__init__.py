"""Live markets: provider streams (Binance, Finnhub, Massive) into the cache and out to
clients over WebSocket and Server-Sent Events; Binance order books kept locally."""

from marketsvc.streams.build import open_streams
from marketsvc.streams.fanout import Subscriber
from marketsvc.streams.hub import CHANNELS, StreamHub

__all__ = ["CHANNELS", "StreamHub", "Subscriber", "open_streams"]
