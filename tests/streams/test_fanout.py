"""Client mailboxes: conflation, bounded queues, slow consumers dropped, replay buffer."""

from __future__ import annotations

from marketsvc.streams.fanout import Fanout, Subscriber


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_latest_value_conflation_and_order() -> None:
    fan = Fanout()
    sub = Subscriber()
    fan.add(sub, "ticker:crypto:BTC")
    fan.add(sub, "ticker:stock:AAPL")
    for i in range(100):
        fan.publish("ticker:crypto:BTC", "tick", f"btc{i}".encode())
    fan.publish("ticker:stock:AAPL", "tick", b"aapl")
    items = await sub.take()
    assert [body for _, _, body in items] == [b"btc99", b"aapl"]
    assert sub.conflated == 99 and [i for i, _, _ in items] == sorted(i for i, _, _ in items)


async def test_slow_consumer_is_dropped_and_never_grows() -> None:
    clock = FakeClock()
    fan = Fanout()
    sub = Subscriber(max_lag=5.0, max_queue=10, clock=clock)
    fan.add(sub, "ticker:crypto:BTC")
    for i in range(10_000):
        clock.now = i * 0.0001
        fan.publish("ticker:crypto:BTC", "tick", b"x")
    assert sub.pending() == 1 and sub.dropped is None
    clock.now = 6.0
    fan.publish("ticker:crypto:BTC", "tick", b"y")
    assert sub.dropped is not None and "too slow" in sub.dropped and sub.pending() == 0
    fan.remove_all(sub)
    assert fan.dropped_clients == 1 and not fan.topics
    trades = Subscriber(max_queue=3)
    fan.add(trades, "trades:crypto:BTC")
    for _ in range(4):
        fan.publish("trades:crypto:BTC", "trade", b"t", conflate=False)
    assert trades.dropped == "too slow: send queue full"


def test_replay_after_an_id_or_none_when_too_old() -> None:
    fan = Fanout(replay=10)
    for i in range(30):
        fan.publish("ticker:crypto:BTC" if i % 2 else "ticker:crypto:ETH", "tick", str(i).encode())
    got = fan.replay(25, {"ticker:crypto:BTC"})
    assert got is not None and [body for _, _, body in got] == [b"25", b"27", b"29"]
    assert fan.replay(3, {"ticker:crypto:BTC"}) is None
    assert fan.replay(99, {"ticker:crypto:BTC"}) is None
