"""What checking a key costs an L1 hit, measured in one run: the same app with keys required
(a key without limits: cache lookup, SHA-256, metering) against keys not required, both
called as ASGI apps, one request each in turn. Figure held: median time ratio ≥ 0.9×.
Both apps are as served: a fresh L1 hit is answered by api/fast_path.py in both, the keyed
one after its key is accepted from memory and metered.
``bench/keys.py`` measures the same over HTTP with real server processes."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from marketsvc.app import create_app
from tests.api.conftest import make_settings
from tests.keys.conftest import ADMIN_TOKEN, PRICE, issue

REQUESTS = 4000


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PRICE,
        "raw_path": PRICE.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


class _Driver:
    """Calls an ASGI app with one GET and checks it was an L1 hit answered 200."""

    def __init__(self, app: Any, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers
        self.status = 0
        self.tier = b""

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            for name, value in message["headers"]:
                if name == b"server-timing":
                    self.tier = value.split(b";")[0]

    async def once(self) -> float:
        t0 = time.perf_counter()
        await self.app(_scope(self.headers), self.receive, self.send)
        elapsed = time.perf_counter() - t0
        assert (self.status, self.tier) == (200, b"l1")
        return elapsed


async def test_key_check_costs_under_a_tenth_of_an_l1_hit(tmp_path: Path) -> None:
    (tmp_path / "open").mkdir()
    (tmp_path / "keyed").mkdir()
    open_app = create_app(make_settings(tmp_path / "open", log_level="WARNING"))
    keyed_app = create_app(
        make_settings(
            tmp_path / "keyed",
            admin_token=ADMIN_TOKEN,
            api_keys_required=True,
            log_level="WARNING",
        )
    )
    async with LifespanManager(open_app) as plain_app, LifespanManager(keyed_app) as keyed:
        async with _client(plain_app.app) as open_client, _client(keyed.app) as keyed_client:
            key = (await issue(keyed_client))["key"]
            assert (await open_client.get(PRICE)).status_code == 200  # warm both L1s
            assert (await keyed_client.get(PRICE, headers={"X-API-Key": key})).status_code == 200
            assert (await keyed_client.get(PRICE)).status_code == 401  # the check is on
        plain_driver = _Driver(plain_app.app, [])
        keyed_driver = _Driver(keyed.app, [(b"x-api-key", key.encode())])
        plain: list[float] = []
        checked: list[float] = []
        # One request each in turn: whatever else runs on the machine hits both sides alike;
        # the medians ignore the requests a collection or another process interrupted.
        for _ in range(REQUESTS):
            plain.append(await plain_driver.once())
            checked.append(await keyed_driver.once())
    plain_s, checked_s = statistics.median(plain), statistics.median(checked)
    ratio = plain_s / checked_s
    print(
        f"\n[keys] L1 hit in-process, median of {REQUESTS}: open {plain_s * 1e6:.1f} µs, "
        f"keys required {checked_s * 1e6:.1f} µs: throughput ratio {ratio:.3f}"
    )
    assert ratio >= 0.9


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
