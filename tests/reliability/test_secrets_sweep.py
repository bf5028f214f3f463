"""Secrets sweep over a real ``marketsvc serve`` process with its own Redis and PostgreSQL.

Every keyed provider gets a sentinel key and the admin token is a sentinel. Every endpoint is
driven, successes and failures alike (404, 422, 401, 503), upstream faults of every kind
are injected, each keyed provider is reached at least once (its emulator checks the key), and
Alpha Vantage is pushed past its daily quota so its answer quotes the key back, as the vendor's
does. Then the sentinels are searched in: the process's stdout/stderr (DEBUG level), every
response status line, header and body, /metrics, /stats, /health, /cache/stats, every Redis
key and value, and every row of cache_entries, candles and provider_calls.

Figure held: sentinel hits = 0.
"""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
import redis

from marketsvc.config import KEYLESS_PROVIDERS
from tests._services import PostgresServer, RedisServer
from tests.reliability._procs import providers_available
from tests.reliability._wire import WireClient
from tests.reliability.conftest import Emulator, ServiceFactory

pytestmark = pytest.mark.reliability

KEYED = [p for p in providers_available() if p not in KEYLESS_PROVIDERS]
SENTINELS = {name: f"SENTINEL-{name.upper()}-7c1d" for name in KEYED}
ADMIN = "SENTINEL-ADMIN-7c1d"
ALL = [*SENTINELS.values(), ADMIN]
# url for which each keyed provider is reached once every provider ahead of it fails
REACH = {
    "finnhub": "/api/market/price/AAPL",
    "tiingo": "/api/market/price/MSFT",
    "polygon": "/api/market/price/NVDA",
    "alphavantage": "/api/market/price/IBM",
    "coinmarketcap": "/api/market/price/ETH",
    "newsapi": "/api/market/news?query=bitcoin",
}
AUTH = {"Authorization": f"Bearer {ADMIN}"}
REQUESTS: list[tuple[str, str, object, dict[str, str] | None]] = [
    ("GET", "/api/market/price/AAPL", None, None),
    ("GET", "/api/market/price/BTC?validate=true", None, None),
    ("GET", "/api/market/price/NOPE123", None, None),
    ("GET", "/api/market/price/bad%20symbol!", None, None),
    ("GET", "/api/market/historical/AAPL?days=20", None, None),
    ("GET", "/api/market/historical/BTC?days=2&timespan=hour", None, None),
    ("GET", "/api/market/news?query=apple", None, None),
    ("GET", "/api/market/news?symbol=AAPL", None, None),
    ("GET", "/api/market/technical/MSFT?indicators=rsi,macd", None, None),
    ("GET", "/api/market/fundamentals/AAPL", None, None),
    ("POST", "/api/market/market-data", {"data_type": "news", "params": {"query": "x"}}, None),
    (
        "POST",
        "/api/market/market-data/batch",
        {"requests": [{"data_type": "price", "symbol": "ETH"}, {"data_type": "nope"}]},
        None,
    ),
    ("POST", "/api/market/market-data/batch", {"requests": [{"data_type": "price"}] * 101}, None),
    ("POST", "/api/market/market-data", {"data_type": "news", "pad": "x" * 70_000}, None),
    ("POST", "/api/market/cache/clear", {"symbol": "AAPL"}, AUTH),
    ("POST", "/api/market/cache/clear", {}, {"Authorization": "Bearer wrong"}),
    ("POST", "/api/market/cache/clear", {}, None),
    ("POST", "/api/market/prefetch", {"data_type": "price", "symbols": ["AAPL", "BTC"]}, AUTH),
    ("POST", "/api/market/prefetch", {"data_type": "price", "symbols": ["AAPL"]}, None),
    ("GET", "/api/market/nowhere", None, None),
    ("GET", "/openapi.json", None, None),
]
OPS = ["/api/market/stats", "/api/market/health", "/api/market/cache/stats", "/metrics"]
OPS += ["/healthz", "/readyz"]


def _hits(text: str) -> list[str]:
    """Sentinels found in ``text``, in clear or hex-encoded (PostgreSQL prints bytea as hex)."""
    return [s for s in ALL if s in text or s.encode().hex() in text]


async def _seen(
    client: WireClient,
    method: str,
    url: str,
    json: object = None,
    headers: dict[str, str] | None = None,
) -> str:
    resp = await client.request(method, url, json=json, headers=headers)
    return f"{resp.status}\n{resp.headers}\n{resp.text}"


def _redis_dump(url: str) -> tuple[int, str]:
    client = redis.Redis.from_url(url)
    parts: list[str] = []
    try:
        keys = list(client.scan_iter(count=1000))
        for key in keys:
            kind = cast(bytes, client.type(key)).decode()
            value: object
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            else:
                value = client.dump(key)
            parts.append(f"{key!r} {value!r}")
    finally:
        client.close()
    return len(keys), "\n".join(parts)


def _db_dump(pg: PostgresServer, database: str) -> tuple[int, str]:
    rows: list[str] = []
    for table in ("cache_entries", "candles", "provider_calls"):
        rows += pg.psql(f"SELECT t::text FROM {table} t", database=database).splitlines()
    return len(rows), "\n".join(rows)


async def test_no_sentinel_anywhere(
    emulator: Emulator,
    start_service: ServiceFactory,
    redis_server: RedisServer,
    pg_server: PostgresServer,
    pg_url: str,
) -> None:
    """Figure: 0 sentinel hits across logs, responses, metrics, Redis and database rows."""
    assert {"finnhub", "newsapi", "alphavantage"} <= set(KEYED)
    svc = start_service(
        keys=SENTINELS, ADMIN_TOKEN=ADMIN, LOG_LEVEL="DEBUG", REDIS_URL=redis_server.url
    )
    # Two calls a day: the third gets the vendor's quota message, which quotes the key.
    emulator.set_limits("alphavantage", "2/day")
    seen: list[str] = []
    async with WireClient(svc.root) as client:
        for method, url, body, headers in REQUESTS:
            seen.append(await _seen(client, method, url, body, headers=headers))
        for name, url in REACH.items():
            for other in providers_available():
                if other != name:
                    emulator.fault(other, "error", status=500)
            sep = "&" if "?" in url else "?"
            for _ in range(3 if name == "alphavantage" else 1):
                seen.append(await _seen(client, "GET", f"{url}{sep}force_refresh=true"))
            emulator.clear_faults()
        for provider in providers_available():
            for kind, extra in (("error", {"status": 401}), ("throttle", {"seconds": 1})):
                emulator.fault(provider, kind, count=1, **extra)
            emulator.fault(provider, "malformed", count=1)
        for url in ("/api/market/price/TSLA", "/api/market/news?query=tesla", REACH["finnhub"]):
            sep = "&" if "?" in url else "?"
            seen.append(await _seen(client, "GET", f"{url}{sep}force_refresh=true"))
        await asyncio.sleep(0.5)  # prefetch runs in the background
        for url in OPS:
            seen.append(await _seen(client, "GET", url))
    statuses = {int(text.split("\n", 1)[0]) for text in seen}
    assert {200, 202, 401, 404, 422, 503} <= statuses, f"error paths driven: {statuses}"
    stats = emulator.stats()
    accepted = {c["provider"] for c in emulator.calls() if c["status"] == 200}
    unreached = [p for p in KEYED if stats[p]["calls"] == 0 or p not in accepted]
    assert unreached == [], f"keyed providers never served with their key: {unreached}"
    quota_hit = [c for c in emulator.calls("alphavantage") if c["throttled"]]
    assert quota_hit, "Alpha Vantage's key-quoting quota answer was provoked"
    svc.proc.stop()  # flush and close the logs before reading them
    log = svc.proc.output()
    n_keys, redis_text = await asyncio.to_thread(_redis_dump, redis_server.url)
    n_rows, db_text = await asyncio.to_thread(_db_dump, pg_server, pg_url.rsplit("/", 1)[1])
    print(
        f"\n[secrets] swept {len(seen)} responses, {len(log.splitlines())} log lines, "
        f"{n_keys} Redis keys, {n_rows} database rows for {len(ALL)} sentinels"
    )
    assert len(log.splitlines()) > 50 and n_keys > 0 and n_rows > 0, "the sweep saw data"
    places = {
        "responses": _hits("\n".join(seen)),
        "logs": _hits(log),
        "redis": _hits(redis_text),
        "database": _hits(db_text),
    }
    leaked = {where: found for where, found in places.items() if found}
    assert leaked == {}, f"figure: 0 sentinel hits; found {leaked}"
