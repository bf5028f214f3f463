"""Client keys through the HTTP API of one process (SQLite, no Redis): issuing, presenting,
refusing (401/403/429), rotating, revoking, scopes, priority and the open paths."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from marketsvc.domain import Priority
from tests.api.conftest import make_settings, running_app
from tests.keys.conftest import ADMIN, ADMIN_TOKEN, PRICE, bearer, issue


@pytest.fixture
async def required(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, admin_token=ADMIN_TOKEN, api_keys_required=True)
    async with running_app(settings) as (app, client):
        yield app, client


async def test_created_key_answer_has_the_contract_shape(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    body = await issue(client, name="alice", limit="60/minute", quota="10000/day")
    assert set(body) >= {
        "id", "prefix", "key", "name", "scopes", "limit", "quota", "created_at", "expires_at"
    }  # fmt: skip
    assert body["key"].startswith(body["prefix"] + "_")
    assert body["prefix"] == f"msk_{body['id']}"
    assert (body["name"], body["scopes"], body["limit"], body["quota"]) == (
        "alice", ["read"], "60/minute", "10000/day"
    )  # fmt: skip
    assert body["created_at"].endswith("Z")
    listed = (await client.get("/api/market/admin/keys", headers=ADMIN)).json()["keys"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0] and body["key"] not in str(listed)


async def test_required_keys_401_without_and_200_with_either_header(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    refused = await client.get(PRICE)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == "Bearer"
    key = (await issue(client))["key"]
    assert (await client.get(PRICE, headers=bearer(key))).status_code == 200
    assert (await client.get(PRICE, headers={"X-API-Key": key})).status_code == 200
    # A made-up key of the right shape, and a mangled real one.
    fake = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert (await client.get(PRICE, headers=bearer(fake))).status_code == 401
    assert (await client.get(PRICE, headers={"X-API-Key": "nonsense"})).status_code == 401


async def test_open_paths_stay_open_when_keys_are_required(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json",
                 "/api/market/health", "/api/market/stats", "/api/market/cache/stats"):  # fmt: skip
        assert (await client.get(path)).status_code == 200, path
    assert (await client.get("/api/market/usage")).status_code == 401  # "my usage" needs a key


async def test_not_required_is_open_but_a_presented_key_is_checked(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, admin_token=ADMIN_TOKEN)) as (_, client):
        assert (await client.get(PRICE)).status_code == 200
        assert (await client.get(PRICE, headers={"X-API-Key": "msk_bogus"})).status_code == 401
        key = (await issue(client))["key"]
        assert (await client.get(PRICE, headers={"X-API-Key": key})).status_code == 200


async def test_rotation_refuses_the_old_key_and_accepts_the_new(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    first = await issue(client)
    rotated = await client.post(f"/api/market/admin/keys/{first['id']}/rotate", headers=ADMIN)
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["id"] == first["id"] and new["key"] != first["key"]
    assert new["rotated_at"] is not None
    assert (await client.get(PRICE, headers=bearer(first["key"]))).status_code == 401
    assert (await client.get(PRICE, headers=bearer(new["key"]))).status_code == 200


async def test_revoked_and_expired_keys_get_403(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    key = await issue(client)
    assert (await client.get(PRICE, headers=bearer(key["key"]))).status_code == 200
    revoked = await client.delete(f"/api/market/admin/keys/{key['id']}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    answer = await client.get(PRICE, headers=bearer(key["key"]))
    assert answer.status_code == 403 and "revoked" in answer.json()["detail"]
    gone = await client.post(f"/api/market/admin/keys/{key['id']}/rotate", headers=ADMIN)
    assert gone.status_code == 404  # a revoked key is not brought back by a rotation
    assert (
        await client.delete("/api/market/admin/keys/0123456789ab", headers=ADMIN)
    ).status_code == 404

    soon = datetime.now(UTC) + timedelta(seconds=1)
    expiring = await issue(client, expires_at=soon.isoformat())
    assert (await client.get(PRICE, headers=bearer(expiring["key"]))).status_code == 200
    await asyncio.sleep(max(0.0, soon.timestamp() - time.time()) + 0.05)
    answer = await client.get(PRICE, headers=bearer(expiring["key"]))
    assert answer.status_code == 403 and "expired" in answer.json()["detail"]


async def test_scopes(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    admin_only = await issue(client, scopes=["admin"])
    reader = await issue(client)
    # An admin-scoped key works where the admin token does, and nowhere else.
    listed = await client.get("/api/market/admin/keys", headers=bearer(admin_only["key"]))
    assert listed.status_code == 200
    assert (await client.get(PRICE, headers=bearer(admin_only["key"]))).status_code == 403
    forbidden = await client.get("/api/market/admin/keys", headers=bearer(reader["key"]))
    assert forbidden.status_code == 403 and "scope" in forbidden.json()["detail"]
    bad = await client.post(
        "/api/market/admin/keys", json={"name": "x", "scopes": ["write"]}, headers=ADMIN
    )
    assert bad.status_code == 422


async def test_limit_429_with_retry_after_and_ietf_headers(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    key = (await issue(client, limit="3/minute", quota="100/day"))["key"]
    answers = [await client.get(PRICE, headers=bearer(key)) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    first, refused = answers[0], answers[3]
    policy = '"3/minute";q=3;w=60, "100/day";q=100;w=86400'
    assert first.headers["ratelimit-policy"] == policy
    assert first.headers["ratelimit"] == '"3/minute";r=2;t=60, "100/day";r=99;t=86400'
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    retry = int(refused.headers["retry-after"])
    assert 55 <= retry <= 60
    assert refused.headers["ratelimit-policy"] == policy
    assert refused.headers["ratelimit"].startswith(f'"3/minute";r=0;t={retry}')
    # Another key has its own windows.
    other = (await issue(client, limit="3/minute"))["key"]
    assert (await client.get(PRICE, headers=bearer(other))).status_code == 200


async def test_key_priority_reaches_the_planner(required, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    app, client = required
    orchestrator = app.state.container.orchestrator
    seen: list[Priority] = []
    original = orchestrator.price

    async def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs["priority"])
        return await original(*args, **kwargs)

    monkeypatch.setattr(orchestrator, "price", spy)
    high = (await issue(client, priority="HIGH"))["key"]
    low = (await issue(client, priority="low"))["key"]
    plain = (await issue(client))["key"]
    # A symbol each: a cached answer never reaches the planner, whatever the priority.
    for key, symbol in ((high, "BTC"), (low, "ETH"), (plain, "SOL")):
        path = f"/api/market/price/{symbol}"
        assert (await client.get(path, headers=bearer(key))).status_code == 200
    assert seen == [Priority.HIGH, Priority.LOW, Priority.MEDIUM]
    bad = await client.post(
        "/api/market/admin/keys", json={"name": "x", "priority": "URGENT"}, headers=ADMIN
    )
    assert bad.status_code == 422


async def test_usage_and_metrics_count_every_request_refusals_included(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    issued = await issue(client, limit="4/minute")
    key = issued["key"]
    statuses = [(await client.get(PRICE, headers=bearer(key))).status_code for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2
    # The key is at its limit now (so would be its own /usage): the admin view shows it.
    everyone = (await client.get("/api/market/admin/usage", headers=ADMIN)).json()
    mine = [r for r in everyone["rows"] if r["key_id"] == issued["id"]]
    assert [(r["endpoint"], r["requests"], r["errors"]) for r in mine] == [
        ("/api/market/price/{symbol}", 6, 2)
    ]
    assert mine[0]["cache_hits"] + mine[0]["upstream_calls"] == 4
    assert mine[0]["bytes"] > 0

    unlimited = (await issue(client))["key"]
    for _ in range(3):
        await client.get(PRICE, headers=bearer(unlimited))
    own = (await client.get("/api/market/usage", headers=bearer(unlimited))).json()
    assert own["key"] == unlimited[: len("msk_") + 12]
    assert own["totals"]["requests"] == 3  # the /usage call itself is counted after it answers
    again = (await client.get("/api/market/usage", headers=bearer(unlimited))).json()
    assert again["totals"]["requests"] == 4
    metrics = (await client.get("/metrics")).text
    prefix = issued["prefix"]
    assert f'marketsvc_client_key_requests_total{{key="{prefix}"}} 6.0' in metrics
    assert f'marketsvc_client_key_errors_total{{key="{prefix}"}} 2.0' in metrics


async def test_the_mcp_server_needs_a_key_when_keys_are_required(required) -> None:  # type: ignore[no-untyped-def]
    _, client = required
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"accept": "application/json, text/event-stream"}
    refused = await client.post("/mcp", json=call, headers=headers)
    assert refused.status_code == 401
    key = (await issue(client))["key"]
    allowed = await client.post("/mcp", json=call, headers={**headers, "X-API-Key": key})
    assert allowed.status_code != 401
