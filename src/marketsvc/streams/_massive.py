"""Massive (Polygon) streams: connect, ``auth``, then ``T.<sym>`` (stocks) or ``XT.<B-USD>``
(crypto) channels; every frame is a JSON array of events."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from marketsvc.domain import AssetClass
from marketsvc.streams.events import Event, StreamAuthError, StreamProtocolError, Tick


class MassiveProtocol:
    provider = "polygon"
    cap = 1000
    msg_interval = 0.1
    batch = 100
    url_max = 0

    def __init__(self, ws_url: str, key: str, market: str) -> None:
        # ``market``: stocks | crypto; the plan decides the host (delayed.massive.com without
        # real-time), which is the configured POLYGON_WS_URL.
        self.ws_url = ws_url.rstrip("/")
        self.market = market
        self._key = key

    def channel(self, symbol: str, asset_class: AssetClass, kind: str) -> str | None:
        if kind not in ("ticker", "trades"):
            return None
        if self.market == "crypto":
            return f"XT.{symbol}-USD" if asset_class is AssetClass.CRYPTO else None
        return f"T.{symbol}" if asset_class is AssetClass.STOCK else None

    def connect_url(self, channels: Sequence[str]) -> str:
        return f"{self.ws_url}/{self.market}"

    def open_messages(self) -> list[str]:
        # The server handles messages in order, so subscriptions may follow at once.
        return [orjson.dumps({"action": "auth", "params": self._key}).decode()]

    def subscribe(self, channels: Sequence[str], on: bool) -> list[str]:
        action = "subscribe" if on else "unsubscribe"
        return [
            orjson.dumps(
                {"action": action, "params": ",".join(channels[i : i + self.batch])}
            ).decode()
            for i in range(0, len(channels), self.batch)
        ]

    def parse(self, text: str | bytes) -> list[Event]:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise StreamProtocolError("polygon: malformed frame") from exc
        if not isinstance(msg, list):
            raise StreamProtocolError("polygon: frame is not an array")
        out: list[Event] = []
        try:
            for ev in msg:
                kind = ev.get("ev")
                if kind == "status":
                    if ev.get("status") == "auth_failed":
                        raise StreamAuthError("polygon: key refused")
                elif kind == "T":
                    out.append(
                        Tick(
                            "polygon",
                            str(ev["sym"]),
                            AssetClass.STOCK,
                            float(ev["p"]),
                            ev["t"] / 1000.0,
                            kind="trade",
                            volume=float(ev.get("s", 0)),
                        )
                    )
                elif kind == "XT":
                    base = str(ev["pair"]).split("-")[0]
                    out.append(
                        Tick(
                            "polygon",
                            base,
                            AssetClass.CRYPTO,
                            float(ev["p"]),
                            ev["t"] / 1000.0,
                            kind="trade",
                            volume=float(ev.get("s", 0)),
                        )
                    )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StreamProtocolError("polygon: unreadable event") from exc
        return out
