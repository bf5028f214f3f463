"""Which adapter class serves which provider name, and how one is built."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from marketsvc.config import ProviderSettings
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.alphavantage import AlphaVantageProvider
from marketsvc.providers.base import Provider
from marketsvc.providers.binance import BinanceProvider
from marketsvc.providers.coingecko import CoinGeckoProvider
from marketsvc.providers.coinmarketcap import CoinMarketCapProvider
from marketsvc.providers.finnhub import FinnhubProvider
from marketsvc.providers.newsapi import NewsApiProvider
from marketsvc.providers.polygon import PolygonProvider
from marketsvc.providers.tiingo import TiingoProvider
from marketsvc.providers.yahoo import YahooProvider

# A static table: every adapter is imported (and type-checked) here, not looked up by string.
ADAPTER_CLASSES: dict[str, Callable[[ProviderSettings, ProviderHttp], Provider]] = {
    "coingecko": CoinGeckoProvider,
    "coinmarketcap": CoinMarketCapProvider,
    "polygon": PolygonProvider,
    "finnhub": FinnhubProvider,
    "newsapi": NewsApiProvider,
    "alphavantage": AlphaVantageProvider,
    "yahoo": YahooProvider,
    "binance": BinanceProvider,
    "tiingo": TiingoProvider,
}

USER_AGENT = "marketsvc/0.1 (+https://github.com/marketsvc)"


def build_http_client(
    settings: ProviderSettings,
    *,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 10,
) -> httpx.AsyncClient:
    """One shared client per provider: its base URL, timeouts, a connection cap, and no
    redirects (a redirect could carry a key to another host). The caller closes it."""
    return httpx.AsyncClient(
        base_url=settings.base_url + "/",
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
        transport=transport,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


def build_provider(settings: ProviderSettings, http: ProviderHttp) -> Provider:
    return ADAPTER_CLASSES[settings.name](settings, http)
