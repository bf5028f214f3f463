"""The three stream protocols read the documented frames (providers.md 8.7, 4.7, 3.7)."""

from __future__ import annotations

import orjson
import pytest

from marketsvc.domain import AssetClass
from marketsvc.streams._binance import BinanceProtocol
from marketsvc.streams._finnhub import FinnhubProtocol
from marketsvc.streams._massive import MassiveProtocol
from marketsvc.streams.events import DepthDiff, StreamAuthError, StreamProtocolError, Tick

TICKER = (
    '{"e":"24hrTicker","E":1672515782136,"s":"BNBBTC","p":"0.0015","P":"250.00","w":"0.0018",'
    '"x":"0.0009","c":"0.0025","Q":"10","b":"0.0024","B":"10","a":"0.0026","A":"100",'
    '"o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18","O":0,"C":86400000,"F":0,'
    '"L":18150,"n":18151}'
)


def test_binance_combined_ticker_trade_depth_and_replies() -> None:
    proto = BinanceProtocol("wss://stream.binance.com:9443")
    wrapped = f'{{"stream":"btcusdt@ticker","data":{TICKER.replace("BNBBTC", "BTCUSDT")}}}'
    (tick,) = proto.parse(wrapped)
    assert isinstance(tick, Tick)
    assert (tick.symbol, tick.asset_class, tick.price) == ("BTC", AssetClass.CRYPTO, 0.0025)
    assert tick.ts == pytest.approx(1672515782.136)
    assert tick.change == 0.0015 and tick.change_percent == 250.0 and tick.previous_close == 0.0009
    trade = '{"e":"trade","E":1,"s":"ETHUSDT","t":1,"p":"0.001","q":"100","T":2000,"m":true}'
    (t2,) = proto.parse(trade)
    assert isinstance(t2, Tick) and t2.kind == "trade" and t2.symbol == "ETH" and t2.ts == 2.0
    depth = '{"e":"depthUpdate","E":5,"s":"BTCUSDT","U":157,"u":160,"b":[["0.0024","10"]],"a":[]}'
    (d,) = proto.parse(depth)
    assert isinstance(d, DepthDiff) and (d.first_id, d.last_id, d.bids) == (
        157,
        160,
        ((0.0024, 10.0),),
    )
    assert proto.parse('{"result":null,"id":1}') == []
    with pytest.raises(StreamProtocolError):
        proto.parse('{"error":{"code":2,"msg":"Too many streams"},"id":2}')
    with pytest.raises(StreamProtocolError):
        proto.parse('{"truncated": [1, 2')


def test_binance_names_urls_and_batched_subscribe() -> None:
    proto = BinanceProtocol("wss://x:9443/")
    assert proto.channel("BTC", AssetClass.CRYPTO, "ticker") == "btcusdt@ticker"
    assert proto.channel("BTC", AssetClass.CRYPTO, "book") == "btcusdt@depth@100ms"
    assert proto.channel("AAPL", AssetClass.STOCK, "ticker") is None
    assert proto.channel("USDT", AssetClass.CRYPTO, "ticker") is None
    assert (
        proto.connect_url(["a@ticker", "b@ticker"])
        == "wss://x:9443/stream?streams=a@ticker/b@ticker"
    )
    msgs = [orjson.loads(m) for m in proto.subscribe([f"s{i}@ticker" for i in range(120)], True)]
    assert [len(m["params"]) for m in msgs] == [50, 50, 20]
    assert {m["method"] for m in msgs} == {"SUBSCRIBE"} and len({m["id"] for m in msgs}) == 3


def test_finnhub_trades_ping_and_errors() -> None:
    proto = FinnhubProtocol("wss://ws.finnhub.io", "secret-token")
    frame = (
        '{"data":[{"c":["1","8"],"p":122.1,"s":"TSLA","t":1672348887195,"v":1},'
        '{"p":30000.5,"s":"BINANCE:BTCUSDT","t":1672348887666,"v":0.5}],"type":"trade"}'
    )
    ticks = proto.parse(frame)
    assert [(t.symbol, t.asset_class) for t in ticks if isinstance(t, Tick)] == [
        ("TSLA", AssetClass.STOCK),
        ("BTC", AssetClass.CRYPTO),
    ]
    assert proto.parse('{"type":"ping"}') == []
    assert orjson.loads(proto.subscribe(["AAPL"], True)[0]) == {
        "type": "subscribe",
        "symbol": "AAPL",
    }
    assert proto.channel("BTC", AssetClass.CRYPTO, "ticker") == "BINANCE:BTCUSDT"
    with pytest.raises(StreamProtocolError) as info:
        proto.parse('{"type":"error","msg":"Subscribing to too many symbols"}')
    assert "secret-token" not in str(info.value)
    with pytest.raises(StreamAuthError):
        proto.parse('{"type":"error","msg":"Invalid token"}')


def test_massive_auth_and_trades() -> None:
    proto = MassiveProtocol("wss://socket.massive.com", "KEY", "stocks")
    assert proto.connect_url([]) == "wss://socket.massive.com/stocks"
    assert orjson.loads(proto.open_messages()[0]) == {"action": "auth", "params": "KEY"}
    assert orjson.loads(proto.subscribe(["T.AAPL", "T.MSFT"], True)[0])["params"] == "T.AAPL,T.MSFT"
    stock = (
        '[{"ev":"T","sym":"MSFT","x":4,"i":"12345","z":3,"p":114.125,"s":100,"c":[0,12],'
        '"t":1536036818784,"q":3681328}]'
    )
    (t,) = proto.parse(stock)
    assert isinstance(t, Tick) and (t.symbol, t.price, t.provider) == ("MSFT", 114.125, "polygon")
    crypto = (
        '[{"ev":"XT","pair":"BTC-USD","p":33021.9,"t":1610462007425,"s":0.01616617,"c":[2],'
        '"i":14272084,"x":3,"r":1610462007576}]'
    )
    (c,) = MassiveProtocol("wss://x", "K", "crypto").parse(crypto)
    assert isinstance(c, Tick) and (c.symbol, c.asset_class) == ("BTC", AssetClass.CRYPTO)
    assert proto.parse('[{"ev":"status","status":"auth_success","message":"authenticated"}]') == []
    with pytest.raises(StreamAuthError):
        proto.parse('[{"ev":"status","status":"auth_failed","message":"bad"}]')
    with pytest.raises(StreamProtocolError):
        proto.parse('{"ev":"T"}')
