"""Finnhub trades (``wss://ws.finnhub.io?token=``): one subscribe message per symbol."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from marketsvc.domain import AssetClass
from marketsvc.streams._binance import pair_base
from marketsvc.streams.events import Event, StreamAuthError, StreamProtocolError, Tick


class FinnhubProtocol:
    provider = "finnhub"
    cap = 50  # the free plan's symbols per connection (UNVERIFIED upstream; configurable)
    msg_interval = 0.05
    url_max = 0

    def __init__(self, ws_url: str, token: str) -> None:
        self.ws_url = ws_url.rstrip("/")
        self._token = token

    def channel(self, symbol: str, asset_class: AssetClass, kind: str) -> str | None:
        if kind != "ticker" and kind != "trades":
            return None
        return f"BINANCE:{symbol}USDT" if asset_class is AssetClass.CRYPTO else symbol

    def connect_url(self, channels: Sequence[str]) -> str:
        # The token rides in the URL (Finnhub's only way); the URL is never logged.
        return f"{self.ws_url}?token={self._token}"

    def open_messages(self) -> list[str]:
        return []

    def subscribe(self, channels: Sequence[str], on: bool) -> list[str]:
        action = "subscribe" if on else "unsubscribe"
        return [orjson.dumps({"type": action, "symbol": c}).decode() for c in channels]

    def parse(self, text: str | bytes) -> list[Event]:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise StreamProtocolError("finnhub: malformed frame") from exc
        if not isinstance(msg, dict):
            raise StreamProtocolError("finnhub: frame is not an object")
        kind = msg.get("type")
        if kind == "error":
            detail = str(msg.get("msg", ""))
            if "token" in detail.lower() or "auth" in detail.lower():
                raise StreamAuthError("finnhub: token refused")
            raise StreamProtocolError(f"finnhub: {detail[:200]}")
        if kind != "trade":
            return []  # ping
        out: list[Event] = []
        try:
            for row in msg.get("data") or []:
                sym = str(row["s"])
                if ":" in sym:
                    symbol, asset = pair_base(sym.split(":", 1)[1]), AssetClass.CRYPTO
                else:
                    symbol, asset = sym, AssetClass.STOCK
                out.append(
                    Tick(
                        "finnhub",
                        symbol,
                        asset,
                        float(row["p"]),
                        row["t"] / 1000.0,
                        kind="trade",
                        volume=float(row.get("v") or 0.0),
                    )
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise StreamProtocolError("finnhub: unreadable trade") from exc
        return out
