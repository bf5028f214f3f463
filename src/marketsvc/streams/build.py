"""Build the StreamHub from the settings: one UpstreamStream per provider stream that has a URL
and, where needed, a key (in sandbox mode: the in-process emulator over loopback)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from marketsvc.cache.policy import CachePolicy
from marketsvc.cache.tiered import TieredCache
from marketsvc.config import Settings
from marketsvc.orchestrator import DataOrchestrator
from marketsvc.streams._binance import BinanceProtocol
from marketsvc.streams._finnhub import FinnhubProtocol
from marketsvc.streams._massive import MassiveProtocol
from marketsvc.streams.hub import StreamHub
from marketsvc.streams.upstream import StreamProtocol, UpstreamStream


def protocols(
    settings: Settings, ws_urls: dict[str, str] | None = None, keys: dict[str, str] | None = None
) -> list[tuple[str, StreamProtocol]]:
    """(name, protocol) in routing preference: crypto prefers Binance, stocks Finnhub."""
    out: list[tuple[str, StreamProtocol]] = []
    for name in ("binance", "finnhub", "polygon"):
        ps = settings.provider(name)
        url = (ws_urls or {}).get(name) or ps.ws_url
        key = (keys or {}).get(name) or (ps.api_key.get_secret_value() if ps.api_key else None)
        if not ps.enabled or not url:
            continue
        if name == "binance":
            out.append(("binance", BinanceProtocol(url)))
        elif key is None:
            continue  # Finnhub and Massive streams need a key
        elif name == "finnhub":
            out.append(("finnhub", FinnhubProtocol(url, key)))
        else:
            out.append(("polygon:stocks", MassiveProtocol(url, key, "stocks")))
            out.append(("polygon:crypto", MassiveProtocol(url, key, "crypto")))
    return out


async def open_streams(
    settings: Settings,
    orchestrator: DataOrchestrator,
    cache: TieredCache,
    policy: CachePolicy,
    stack: AsyncExitStack,
    *,
    ws_urls: dict[str, str] | None = None,
    keys: dict[str, str] | None = None,
) -> StreamHub:
    hub = StreamHub(
        orchestrator,
        cache,
        policy,
        watchlist=settings.watchlist("crypto") + settings.watchlist("stocks"),
        sandbox=settings.sandbox,
        poll_interval=settings.stream_poll_interval,
    )
    for name, proto in protocols(settings, ws_urls, keys):
        hub.add_stream(
            UpstreamStream(
                name, proto, hub.on_events, hub.on_down, silence=settings.stream_silence_seconds
            )
        )
    await hub.start()
    stack.push_async_callback(hub.aclose)
    return hub
