"""The local order book equals the emulator's after 10,000 diffs, through a forced gap."""

from __future__ import annotations

from marketsvc.sandbox._book import SyntheticBook
from marketsvc.streams.events import DepthDiff
from marketsvc.streams.orderbook import Applied, LocalBook


def _wire(diff_bids: tuple[tuple[int, int], ...]) -> tuple[tuple[float, float], ...]:
    return tuple((float(p), float(q)) for p, q in diff_bids)


def _snapshot(
    book: SyntheticBook,
) -> tuple[int, list[tuple[float, float]], list[tuple[float, float]]]:
    last, bids, asks = book.snapshot(1000)
    return last, [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks]


def test_ten_thousand_diffs_with_a_forced_gap_and_resync() -> None:
    upstream = SyntheticBook("BTCUSDT", centre=100_000, seed=7)
    local = LocalBook("BTC")
    gaps = 0
    snapshot_at = 5  # the REST snapshot arrives after a few diffs were buffered
    pending_snapshot: tuple[int, list[tuple[float, float]], list[tuple[float, float]]] | None = None
    for i in range(10_000):
        diff = upstream.step(float(i))
        if i == 3:
            pending_snapshot = _snapshot(upstream)
        if i == 6000:
            continue  # this diff is lost on the way: the local book must notice and resync
        event = DepthDiff(
            "BTC", diff.first_id, diff.last_id, _wire(diff.bids), _wire(diff.asks), diff.ts
        )
        result = local.on_diff(event)
        if result is Applied.GAP:
            gaps += 1
            pending_snapshot = None
            snapshot_at = i + 3
        if i == snapshot_at:
            snap = pending_snapshot or _snapshot(upstream)
            assert local.load_snapshot(*snap)
    assert gaps == 1 and local.resyncs == 1 and local.synced
    bids, asks = local.top(1000)
    last, up_bids, up_asks = _snapshot(upstream)
    assert local.last_id == last
    assert bids == up_bids and asks == up_asks


def test_snapshot_older_than_the_buffer_is_refused() -> None:
    upstream = SyntheticBook("ETHUSDT", centre=5000, seed=1)
    early = _snapshot(upstream)
    upstream.step(0.0)  # lost before the stream started
    local = LocalBook("ETH")
    d = upstream.step(1.0)
    local.on_diff(DepthDiff("ETH", d.first_id, d.last_id, _wire(d.bids), _wire(d.asks), 1.0))
    assert not local.load_snapshot(*early)
    assert local.load_snapshot(*_snapshot(upstream))
    assert local.top(1000)[0] == _snapshot(upstream)[1]
