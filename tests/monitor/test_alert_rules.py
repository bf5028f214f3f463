"""The in-process alert rules on synthetic observations: each condition raises once while it
holds and resolves once when it stops."""

from __future__ import annotations

from typing import Any

from marketsvc.monitor.alerts import AlertBook, AlertEvaluator, Observation, Thresholds
from marketsvc.monitor.samples import Reading, SampleRing, histogram_quantile


def health(state: str = "closed", opened: int = 0) -> dict[str, Any]:
    status = {"closed": "up", "half_open": "degraded", "open": "down"}[state]
    return {"status": status, "circuit": {"state": state, "times_opened": opened}}


def planner(calls: int = 0, limited: int = 0, used: int = 0, usable: int = 100) -> dict[str, Any]:
    return {
        "calls": calls,
        "rate_limited": limited,
        "windows": [{"window": "100/minute", "usable": usable, "left": usable - used}],
    }


def obs(now: float, **kw: Any) -> Observation:
    return Observation(
        now=now,
        health=kw.get("health", {"p": health()}),
        planner=kw.get("planner", {"p": planner()}),
        jobs=kw.get("jobs", {}),
        samples=kw.get("samples", []),
    )


def rules(ev: AlertEvaluator, o: Observation) -> set[str]:
    return {c.key for c in ev.evaluate(o)}


def test_book_raises_once_and_resolves_once() -> None:
    ev, book = AlertEvaluator(), AlertBook()
    down = {"p": health("open", 1)}
    kinds = []
    for t, h in enumerate([down, down, {"p": health("half_open", 1)}, {"p": health()}, {}]):
        kinds += [(tr.kind, tr.alert.rule) for tr in book.apply(ev.evaluate(obs(t, health=h)), t)]
    assert kinds == [("raised", "provider_down"), ("resolved", "provider_down")]
    assert book.snapshot()["active"] == []
    assert book.snapshot()["recent"][0]["resolved_at"] == 3


def test_quota_under_ten_percent_of_a_window() -> None:
    ev = AlertEvaluator()
    assert rules(ev, obs(0, planner={"p": planner(used=90)})) == set()
    assert rules(ev, obs(1, planner={"p": planner(used=91)})) == {"quota_low:p/100/minute"}


def test_429_rate_over_five_minutes() -> None:
    ev = AlertEvaluator()
    assert rules(ev, obs(0, planner={"p": planner(calls=0, limited=0)})) == set()
    # 2 of 10 calls throttled: under the minimum count of 3
    assert rules(ev, obs(60, planner={"p": planner(calls=10, limited=2)})) == set()
    assert rules(ev, obs(120, planner={"p": planner(calls=12, limited=5)})) == {"rate_limited:p"}
    # six minutes later the throttled answers fell out of the 5-minute window
    assert rules(ev, obs(480, planner={"p": planner(calls=40, limited=5)})) == set()


def test_breaker_flapping_within_fifteen_minutes() -> None:
    ev = AlertEvaluator()
    for t, opened in [(0, 0), (60, 1), (120, 2)]:
        assert "breaker_flapping:p" not in rules(ev, obs(t, health={"p": health("closed", opened)}))
    assert "breaker_flapping:p" in rules(ev, obs(180, health={"p": health("closed", 3)}))
    assert "breaker_flapping:p" not in rules(ev, obs(1200, health={"p": health("closed", 3)}))


def test_p99_over_threshold_and_hit_rate_drop() -> None:
    ring = SampleRing(period=60, size=60)
    t = 0.0

    def feed(requests: int, slow: bool, lookups: int, hits: int) -> None:
        nonlocal t, reading
        reading = Reading(
            requests=reading.requests + requests,
            buckets={
                le: reading.buckets.get(le, 0)
                + (requests if (not slow and le >= 0.01) or le >= 5 else 0)
                for le in (0.01, 1.0, 5.0, float("inf"))
            },
            lookups=reading.lookups + lookups,
            cache_hits=reading.cache_hits + hits,
        )
        t += 60
        ring.update(reading, t)

    reading = Reading()
    ring.update(reading, t)
    for _ in range(20):  # twenty fast minutes, 90 % hits
        feed(50, slow=False, lookups=100, hits=90)
    ev = AlertEvaluator(Thresholds(p99_seconds=2.0))
    assert rules(ev, obs(t, samples=ring.samples())) == set()
    for _ in range(5):  # five slow minutes, 20 % hits
        feed(50, slow=True, lookups=100, hits=20)
    assert rules(ev, obs(t, samples=ring.samples())) == {
        "latency_p99_high:http",
        "cache_hit_rate_drop:cache",
    }


def test_job_missing_its_ticks() -> None:
    ev = AlertEvaluator()
    job = {"interval_seconds": 60, "runs": 0, "skipped_other_replica": 0}
    assert rules(ev, obs(0, jobs={"j": job})) == set()
    assert rules(ev, obs(149, jobs={"j": job})) == set()  # 2 intervals + 30 s grace
    assert rules(ev, obs(151, jobs={"j": job})) == {"job_missed_ticks:j"}
    # another replica's tick counts as a tick
    assert rules(ev, obs(152, jobs={"j": {**job, "skipped_other_replica": 1}})) == set()


def test_histogram_quantile_matches_promql() -> None:
    # 100 observations: 50 ≤ 0.1, 40 in (0.1, 0.5], 10 in (0.5, 1]
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == 0.1
    assert abs((histogram_quantile(0.99, buckets) or 0) - 0.95) < 1e-9
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None
