"""Input at the edges, through the real app on the in-process emulator: hostile symbols and
dates answer 422 problem+json and never reach a provider; ``/price/{base}/{quote}``; no
redirect built from the request's Host header.

"No upstream call" is measured twice: the emulator's own call log, and every request any
adapter hands to the in-process transport (the log only holds requests that matched one of
the emulator's routes; an escaped path like ``/yahoo/v8/finance`` would not)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from marketsvc.container import SANDBOX_ROOT
from tests.api.conftest import make_settings, running_app

ADMIN = {"Authorization": "Bearer hostile-admin-token"}
SANDBOX_HOST = httpx.URL(SANDBOX_ROOT).host


class Upstream:
    """Requests the service sent to the emulator (transport level and emulator log)."""

    def __init__(self, app: FastAPI, sent: list[httpx.URL]) -> None:
        self.app, self.sent = app, sent

    def mark(self) -> tuple[int, int]:
        return len(self.sent), len(self.app.state.container.sandbox_app.state.sandbox.calls)

    def since(self, mark: tuple[int, int]) -> tuple[list[str], int]:
        logged = len(self.app.state.container.sandbox_app.state.sandbox.calls) - mark[1]
        return [str(u) for u in self.sent[mark[0] :]], logged


@pytest.fixture
async def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, Upstream]]:
    sent: list[httpx.URL] = []
    original = httpx.ASGITransport.handle_async_request

    async def counting(self: httpx.ASGITransport, request: httpx.Request) -> httpx.Response:
        if request.url.host == SANDBOX_HOST:
            sent.append(request.url)
        return await original(self, request)

    monkeypatch.setattr(httpx.ASGITransport, "handle_async_request", counting)
    settings = make_settings(tmp_path, admin_token="hostile-admin-token")
    async with running_app(settings) as (app, client):
        yield client, Upstream(app, sent)


def _assert_problem_422(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == 422 and body["type"].endswith("/invalid-input")
    return body


def _why(body: dict[str, Any]) -> str:
    """The reason, from ``detail`` (our InvalidInputError) or the first validation error."""
    errors = body.get("errors") or []
    return " ".join([body["detail"], *(str(e.get("msg")) for e in errors)])


# --- symbols ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/api/market/historical/%2e%2e?days=5", "'..' is not a symbol"),
        ("/api/market/historical/%2E?days=5", "'.' is not a symbol"),
        ("/api/market/price/%2e%2e", "'..' is not a symbol"),
        ("/api/market/price/..-USD", "base '..'"),
        ("/api/market/price/X:..USD", "base '..'"),
        ("/api/market/technical/%2e%2e", "'..' is not a symbol"),
        ("/api/market/fundamentals/%2e%2e", "'..' is not a symbol"),
        ("/api/market/price/%2e%2e/%2e%2e", "'..-..' is not a symbol"),
        ("/api/market/news?symbol=..", "'..' is not a symbol"),
        ("/api/market/news?symbol=A//B", "at most one '/'"),
        ("/api/market/news?symbol=AAPL/../../X", "at most one '/'"),
        ("/api/market/price/\u0391APL", "should match pattern"),
    ],
)
async def test_hostile_symbols_in_get_requests_are_422_without_upstream_calls(
    served: tuple[httpx.AsyncClient, Upstream], path: str, why: str
) -> None:
    client, upstream = served
    mark = upstream.mark()
    body = _assert_problem_422(await client.get(path))
    assert why in _why(body)
    assert upstream.since(mark) == ([], 0)


@pytest.mark.parametrize(
    ("request_body", "why"),
    [
        ({"data_type": "price", "symbol": "AAPL/../../X"}, "at most one '/'"),
        ({"data_type": "historical", "symbol": ".."}, "'..' is not a symbol"),
        ({"data_type": "fundamentals", "symbol": "A/"}, "empty part"),
        ({"data_type": "news", "symbol": "."}, "'.' is not a symbol"),
        ({"data_type": "price", "symbol": "..-USD"}, "base '..'"),
    ],
)
async def test_hostile_symbols_in_market_data_are_422_without_upstream_calls(
    served: tuple[httpx.AsyncClient, Upstream], request_body: dict[str, Any], why: str
) -> None:
    client, upstream = served
    mark = upstream.mark()
    body = _assert_problem_422(await client.post("/api/market/market-data", json=request_body))
    assert why in _why(body)
    assert upstream.since(mark) == ([], 0)


async def test_a_batch_answers_a_hostile_item_with_422_and_sends_nothing_for_it(
    served: tuple[httpx.AsyncClient, Upstream],
) -> None:
    client, upstream = served
    mark = upstream.mark()
    requests = [
        {"data_type": "price", "symbol": "BTC"},
        {"data_type": "historical", "symbol": "AAPL/../../X"},
    ]
    resp = await client.post("/api/market/market-data/batch", json={"requests": requests})
    assert resp.status_code == 200, resp.text
    ok, bad = resp.json()["results"]
    # One invalid item is an item-level error, never a failed batch (contract).
    assert ok["ok"] and ok["data"]["symbol"] == "BTC"
    assert not bad["ok"] and bad["error"]["status"] == 422
    assert bad["error"]["errors"][0]["loc"] == ["symbol"]
    assert "at most one '/'" in bad["error"]["errors"][0]["msg"]
    sent, _ = upstream.since(mark)
    assert sent and not any(".." in url or "%2F" in url.upper() for url in sent)
    assert not any("AAPL" in url for url in sent)  # only the BTC item went out


@pytest.mark.parametrize("data_type", ["price", "historical", "news"])
async def test_prefetch_with_hostile_symbols_is_422_and_warms_nothing(
    served: tuple[httpx.AsyncClient, Upstream], data_type: str
) -> None:
    client, upstream = served
    mark = upstream.mark()
    resp = await client.post(
        "/api/market/prefetch",
        headers=ADMIN,
        json={"data_type": data_type, "symbols": ["ETH", "..", "AAPL/../../X"]},
    )
    body = _assert_problem_422(resp)
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("body", "symbols", 1),
        ("body", "symbols", 2),
    }
    assert upstream.since(mark) == ([], 0)


async def test_cache_clear_with_a_hostile_symbol_is_422(
    served: tuple[httpx.AsyncClient, Upstream],
) -> None:
    client, _ = served
    resp = await client.post("/api/market/cache/clear", headers=ADMIN, json={"symbol": ".."})
    assert "'..' is not a symbol" in _why(_assert_problem_422(resp))


async def test_ordinary_symbols_still_pass(served: tuple[httpx.AsyncClient, Upstream]) -> None:
    client, upstream = served
    for symbol in ("BRK.B", "BTC-USD", "A" * 32):
        mark = upstream.mark()
        resp = await client.get(f"/api/market/price/{symbol}")
        assert resp.status_code in (200, 404), resp.text  # 404: no provider knows AAAA...
        sent, _ = upstream.since(mark)
        assert sent, symbol  # it did reach the providers


# --- /price/{base}/{quote} --------------------------------------------------------------------


async def test_price_of_a_slash_pair_answers_like_the_dash_pair(
    served: tuple[httpx.AsyncClient, Upstream],
) -> None:
    client, _ = served
    dash = await client.get("/api/market/price/BTC-USD")
    slash = await client.get("/api/market/price/BTC/USD")
    assert dash.status_code == slash.status_code == 200, slash.text
    a, b = dash.json(), slash.json()
    assert (b["symbol"], b["asset_class"], b["currency"]) == ("BTC", "crypto", "USD")
    assert (a["symbol"], a["asset_class"], a["price"]) == (
        b["symbol"],
        b["asset_class"],
        b["price"],
    )
    # The same cache entry answers both spellings.
    assert slash.headers["server-timing"].startswith("l1;")
    encoded = await client.get("/api/market/price/ETH%2FUSD")
    assert encoded.status_code == 200 and encoded.json()["symbol"] == "ETH"
    forced = await client.get("/api/market/price/BTC/USD", params={"asset_class": "bond"})
    _assert_problem_422(forced)


async def test_price_pair_route_is_documented(served: tuple[httpx.AsyncClient, Upstream]) -> None:
    client, _ = served
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"]["/api/market/price/{base}/{quote_currency}"]["get"]
    params = {p["name"]: p["in"] for p in op["parameters"]}
    assert params == {
        "base": "path",
        "quote_currency": "path",
        "asset_class": "query",
        "validate": "query",
        "force_refresh": "query",
    }
    assert "200" in op["responses"] and "422" in op["responses"]


# --- Host header and trailing slashes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "json"),
    [
        ("GET", "/api/market/health/", None),
        ("GET", "/api/market/price/BTC/", None),
        ("GET", "/api/market/cache/stats/", None),
        ("GET", "/healthz/", None),
        ("POST", "/api/market/market-data/", {"data_type": "price", "symbol": "BTC"}),
    ],
)
async def test_trailing_slash_never_redirects_to_the_host_header(
    served: tuple[httpx.AsyncClient, Upstream], method: str, path: str, json: Any
) -> None:
    client, _ = served
    headers = {"Host": "evil.invalid", "X-Forwarded-Host": "evil.invalid"}
    resp = await client.request(method, path, json=json, headers=headers)
    assert resp.status_code == 200, resp.text
    assert "location" not in resp.headers
    assert "evil.invalid" not in resp.text
    same = await client.request(method, path.rstrip("/"), json=json)
    assert same.status_code == 200
    assert same.json().keys() == resp.json().keys()


async def test_unknown_paths_are_404_not_redirects(
    served: tuple[httpx.AsyncClient, Upstream],
) -> None:
    client, _ = served
    resp = await client.get("/api/market/nothing-here/", headers={"Host": "evil.invalid"})
    assert resp.status_code == 404 and "location" not in resp.headers


# --- dates --------------------------------------------------------------------------------------


def _tomorrow() -> date:
    return datetime.now(UTC).date() + timedelta(days=1)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("end=1022-09-20", "query.end: 1022-09-20 is outside the valid range 1970-01-01 .. "),
        ("start=9999-01-01", "query.start: 9999-01-01 is outside the valid range 1970-01-01 .. "),
        ("start=1969-12-31&end=1970-01-05", "query.start: 1969-12-31 is outside"),
        ("start=2024-02-01&end=2024-01-01", "query.start: 2024-02-01 is after query.end"),
        ("end=1970-01-10&days=30", "query.days: 30 days before end 1970-01-10"),
    ],
)
async def test_historical_dates_outside_market_history_are_422(
    served: tuple[httpx.AsyncClient, Upstream], query: str, why: str
) -> None:
    client, upstream = served
    mark = upstream.mark()
    body = _assert_problem_422(await client.get(f"/api/market/historical/AAPL?{query}"))
    assert why in body["detail"]
    if "outside" in why:
        assert f"1970-01-01 .. {_tomorrow().isoformat()}" in body["detail"]
    assert upstream.since(mark) == ([], 0)


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"end": "1022-09-20"}, "params.end: 1022-09-20 is outside the valid range"),
        ({"start": "9999-01-01"}, "params.start: 9999-01-01 is outside the valid range"),
        ({"start": "0001-01-01T00:00:00+05:00"}, "params.start: 0001-01-01 is outside"),
        ({"start": "2024-03-01", "end": "2024-01-01"}, "params.start: 2024-03-01 is after"),
    ],
)
async def test_generic_historical_dates_outside_market_history_are_422(
    served: tuple[httpx.AsyncClient, Upstream], params: dict[str, str], why: str
) -> None:
    client, upstream = served
    mark = upstream.mark()
    body = {"data_type": "historical", "symbol": "AAPL", "params": params}
    problem = _assert_problem_422(await client.post("/api/market/market-data", json=body))
    assert why in problem["detail"]
    assert upstream.since(mark) == ([], 0)


async def test_dates_at_the_edges_of_the_range_are_accepted(
    served: tuple[httpx.AsyncClient, Upstream],
) -> None:
    client, _ = served
    start = (datetime.now(UTC).date() - timedelta(days=20)).isoformat()
    resp = await client.get(
        "/api/market/historical/BTC", params={"start": start, "end": _tomorrow().isoformat()}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["candles"]
    early = await client.get(
        "/api/market/historical/BTC", params={"start": "1970-01-01", "end": "1970-01-20"}
    )
    assert early.status_code != 422, early.text
