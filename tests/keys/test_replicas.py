"""Client keys across replicas: app instances sharing PostgreSQL and Redis (each with its own
Container, Redis connections and in-memory key cache). Exact limits, revocation reaching the
other replicas, usage surviving a restart, and no key in clear in the database or Redis."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from marketsvc.db.tables import metadata
from tests.keys.conftest import ADMIN, PRICE, bearer, issue, replicas


async def _burst(clients: list[httpx.AsyncClient], key: str, per_replica: int) -> list[int]:
    """``per_replica`` requests on every replica at once; the statuses."""
    calls = [c.get(PRICE, headers=bearer(key)) for c in clients for _ in range(per_replica)]
    return [r.status_code for r in await asyncio.gather(*calls)]


async def _warm(clients: list[httpx.AsyncClient]) -> None:
    for c in clients:  # every replica's L1 holds the price: the burst measures the key path
        assert (await c.get(PRICE)).status_code == 200


async def test_limit_is_exact_across_three_replicas(
    tmp_path: Path, keys_pg_url: str, redis_url: str
) -> None:
    async with replicas(tmp_path, 3, database_url=keys_pg_url, redis_url=redis_url) as clients:
        await _warm(clients)
        # A long window: everything below happens inside one minute of it.
        minute = (await issue(clients[0], limit="30/minute"))["key"]
        admitted = []
        for _ in range(4):
            statuses = await _burst(clients, minute, 15)
            admitted.append(statuses.count(200))
            assert set(statuses) <= {200, 429}
        print(f"\n[keys] 30/minute, 4 bursts of 45 over 3 replicas: admitted {admitted}")
        assert sum(admitted) == 30 and admitted[0] == 30

        # A short window that slides, with a quota above it: 10 per second, 25 per minute.
        key = (await issue(clients[1], limit="10/second", quota="25/minute"))["key"]
        per_window = []
        for _ in range(4):
            t0 = time.monotonic()
            statuses = await _burst(clients, key, 10)  # 30 requests, 10 per replica
            assert time.monotonic() - t0 < 0.5, "a burst must fit inside its 1 s window"
            per_window.append(statuses.count(200))
            await asyncio.sleep(1.05)  # the previous burst leaves the 1 s window
        print(f"[keys] 10/second + 25/minute, 4 one-second windows: admitted {per_window}")
        assert per_window == [10, 10, 5, 0]


async def test_revocation_and_rotation_reach_every_replica_within_a_second(
    tmp_path: Path, keys_pg_url: str, redis_url: str
) -> None:
    async with replicas(tmp_path, 3, database_url=keys_pg_url, redis_url=redis_url) as clients:
        a, b, c = clients
        issued = await issue(a)
        key = issued["key"]
        # Created on A, usable at once on B and C (a cache miss reads the database once).
        for client in clients:
            assert (await client.get(PRICE, headers=bearer(key))).status_code == 200
        t0 = time.monotonic()
        assert (await a.delete(f"/api/market/admin/keys/{issued['id']}", headers=ADMIN)).is_success
        seen: dict[str, float] = {}
        while len(seen) < 2 and time.monotonic() - t0 < 1.0:
            for name, client in (("b", b), ("c", c)):
                if name not in seen:
                    answer = await client.get(PRICE, headers=bearer(key))
                    if answer.status_code == 403:
                        seen[name] = round(time.monotonic() - t0, 4)
            # In-process L1 hits never suspend: let the event loop run the replicas' listeners
            # as a real server's socket I/O would.
            await asyncio.sleep(0.002)
        print(f"\n[keys] revocation seen on the other replicas after {seen} s")
        assert set(seen) == {"b", "c"} and max(seen.values()) < 1.0

        other = await issue(b)
        assert (await c.get(PRICE, headers=bearer(other["key"]))).status_code == 200
        rotated = (
            await b.post(f"/api/market/admin/keys/{other['id']}/rotate", headers=ADMIN)
        ).json()
        await asyncio.sleep(0.2)
        assert (await c.get(PRICE, headers=bearer(other["key"]))).status_code == 401
        assert (await c.get(PRICE, headers=bearer(rotated["key"]))).status_code == 200


async def _admin_usage(client: httpx.AsyncClient, key_id: str) -> dict[str, int]:
    rows = (await client.get("/api/market/admin/usage?days=2", headers=ADMIN)).json()["rows"]
    totals = {"requests": 0, "errors": 0}
    for row in rows:
        if row["key_id"] == key_id:
            totals["requests"] += row["requests"]
            totals["errors"] += row["errors"]
    return totals


async def test_usage_equals_requests_sent_across_a_restart(
    tmp_path: Path, keys_pg_url: str, redis_url: str
) -> None:
    shared: dict[str, Any] = {"database_url": keys_pg_url, "redis_url": redis_url}
    sent = refused = 0
    async with replicas(tmp_path, 2, **shared) as clients:
        await _warm(clients)
        issued = await issue(clients[0], limit="50/minute")
        key, key_id = issued["key"], issued["id"]
        for client in itertools.islice(itertools.cycle(clients), 40):
            status = (await client.get(PRICE, headers=bearer(key))).status_code
            sent += 1
            refused += status == 429
    # Both replicas stopped (gracefully: each flushed); two new ones start.
    async with replicas(tmp_path, 2, **shared) as clients:
        for client in itertools.islice(itertools.cycle(clients), 30):
            status = (await client.get(PRICE, headers=bearer(key))).status_code
            sent += 1
            refused += status == 429
        assert refused == 20  # 70 sent against 50/minute: the windows survived the restart too
        # Within 5 s every replica's counts are in (the meters flush every second).
        deadline = time.monotonic() + 5
        while (usage := await _admin_usage(clients[0], key_id))["requests"] != sent:
            assert time.monotonic() < deadline, f"usage {usage} vs {sent} sent"
            await asyncio.sleep(0.2)
        print(f"\n[keys] usage after a restart: {usage} for {sent} sent ({refused} refused)")
        assert usage == {"requests": sent, "errors": refused}


def _redis_text(url: str) -> tuple[int, str]:
    client = redis.Redis.from_url(url)
    parts: list[str] = []
    try:
        keys = list(client.scan_iter(count=1000))
        for key in keys:
            kind = client.type(key).decode()  # type: ignore[union-attr]
            value: object
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            else:
                value = client.dump(key)
            parts.append(f"{key!r} {value!r}")
    finally:
        client.close()
    return len(keys), "\n".join(parts)


async def _db_text(url: str) -> tuple[int, str]:
    engine = create_async_engine(url)
    rows: list[str] = []
    try:
        async with engine.connect() as conn:
            for table in metadata.sorted_tables:
                result = await conn.execute(sa.select(table))
                rows += [repr(tuple(row)) for row in result]
    finally:
        await engine.dispose()
    return len(rows), "\n".join(rows)


async def test_only_hashes_are_stored(
    tmp_path: Path, keys_pg_url: str, redis_url: str, capfd: Any
) -> None:
    async with replicas(
        tmp_path, 2, database_url=keys_pg_url, redis_url=redis_url, log_level="DEBUG"
    ) as clients:
        created = [await issue(clients[0], limit="5/second", quota="100/day") for _ in range(3)]
        rotated = (
            await clients[0].post(
                f"/api/market/admin/keys/{created[0]['id']}/rotate", headers=ADMIN
            )
        ).json()
        keys = [k["key"] for k in created] + [rotated["key"]]
        for client in clients:
            for key in keys:
                await client.get(PRICE, headers=bearer(key))
                await client.get("/api/market/usage", headers={"X-API-Key": key})
            await client.get("/metrics")
        await asyncio.sleep(1.2)  # a meter flush
        listed = (await clients[1].get("/api/market/admin/keys", headers=ADMIN)).text
    n_rows, db = await _db_text(keys_pg_url)
    n_keys, red = await asyncio.to_thread(_redis_text, redis_url)
    logs = "".join(capfd.readouterr())
    secrets = [k.split("_", 2)[2] for k in keys]  # the random part alone, too
    print(f"\n[keys] searched {n_rows} rows, {n_keys} Redis keys, {len(logs)} log chars")
    assert all(k["id"] in db for k in created)  # the search does see the key records
    for haystack in (db, red, logs, listed):
        assert [s for s in keys + secrets if s in haystack] == []
