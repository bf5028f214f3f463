"""Binance combined streams (``/stream?streams=...``): names, control messages and parsing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from marketsvc.domain import AssetClass
from marketsvc.streams.events import DepthDiff, Event, StreamProtocolError, Tick

_QUOTES = ("USDT", "USDC", "FDUSD")
_NOT_STREAMED = frozenset({"USDT", "USDC", "FDUSD"})  # USDTUSDT is no pair


def _f(value: Any) -> float | None:
    return float(value) if value is not None else None


def pair_base(pair: str) -> str:
    upper = pair.upper()
    for quote in _QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)]
    return upper


class BinanceProtocol:
    provider = "binance"
    cap = 1024  # streams per connection
    # 5 incoming messages/s per connection counts pings and pongs too: stay well under.
    msg_interval = 0.35
    batch = 50  # stream names per SUBSCRIBE
    url_max = 100  # names put in the connect URL; the rest are subscribed by message

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url.rstrip("/")
        self._ids = 0

    def channel(self, symbol: str, asset_class: AssetClass, kind: str) -> str | None:
        if asset_class is not AssetClass.CRYPTO or symbol in _NOT_STREAMED:
            return None
        suffix = {"ticker": "ticker", "trades": "trade", "book": "depth@100ms"}[kind]
        return f"{symbol.lower()}usdt@{suffix}"

    def connect_url(self, channels: Sequence[str]) -> str:
        return f"{self.ws_url}/stream?streams={'/'.join(channels)}"

    def open_messages(self) -> list[str]:
        return []

    def subscribe(self, channels: Sequence[str], on: bool) -> list[str]:
        out = []
        for i in range(0, len(channels), self.batch):
            self._ids += 1
            out.append(
                orjson.dumps(
                    {
                        "method": "SUBSCRIBE" if on else "UNSUBSCRIBE",
                        "params": list(channels[i : i + self.batch]),
                        "id": self._ids,
                    }
                ).decode()
            )
        return out

    def parse(self, text: str | bytes) -> list[Event]:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise StreamProtocolError("binance: malformed frame") from exc
        if not isinstance(msg, dict):
            raise StreamProtocolError("binance: frame is not an object")
        if "id" in msg and ("result" in msg or "error" in msg):
            if msg.get("error"):
                raise StreamProtocolError(f"binance: request refused: {msg['error']}")
            return []
        data = msg.get("data", msg)
        return parse_event(data)


def parse_event(data: Any) -> list[Event]:
    if not isinstance(data, dict):
        raise StreamProtocolError("binance: event is not an object")
    kind = data.get("e")
    try:
        if kind == "24hrTicker":
            return [
                Tick(
                    "binance",
                    pair_base(data["s"]),
                    AssetClass.CRYPTO,
                    float(data["c"]),
                    data["E"] / 1000.0,
                    kind="ticker",
                    volume=_f(data.get("v")),
                    change=_f(data.get("p")),
                    change_percent=_f(data.get("P")),
                    open=_f(data.get("o")),
                    high=_f(data.get("h")),
                    low=_f(data.get("l")),
                    previous_close=_f(data.get("x")),
                )
            ]
        if kind in ("trade", "aggTrade"):
            return [
                Tick(
                    "binance",
                    pair_base(data["s"]),
                    AssetClass.CRYPTO,
                    float(data["p"]),
                    data["T"] / 1000.0,
                    kind="trade",
                    volume=_f(data.get("q")),
                )
            ]
        if kind == "depthUpdate":
            return [
                DepthDiff(
                    pair_base(data["s"]),
                    int(data["U"]),
                    int(data["u"]),
                    tuple((float(p), float(q)) for p, q in data["b"]),
                    tuple((float(p), float(q)) for p, q in data["a"]),
                    data["E"] / 1000.0,
                )
            ]
    except (KeyError, TypeError, ValueError) as exc:
        raise StreamProtocolError(f"binance: unreadable {kind} event") from exc
    return []  # serverShutdown and other events carry no price
