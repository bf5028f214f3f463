"""Request ids and access lines, in process: every answer (a refused or failed one too) carries
``X-Request-ID``, every request writes one access line, and every line written while a request
is handled carries its id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from marketsvc.api.middleware import AdmissionMiddleware, MetricsMiddleware
from marketsvc.logs import JsonFormatter, RedactingFilter
from marketsvc.metrics import ServiceMetrics

GENERATED = re.compile(r"[0-9a-f]{16}")
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """Every JSON line logged from now on, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "marketsvc.access"]


async def test_price_requests_echo_ids_and_write_one_access_line_each(
    client: httpx.AsyncClient, log_lines: Lines
) -> None:
    first = await client.get("/api/market/price/BTC", headers={"X-Request-ID": "test-123"})
    second = await client.get("/api/market/price/BTC")
    missing = await client.get("/api/market/nope", headers={"X-Request-ID": "bad id!"})
    assert [r.status_code for r in (first, second, missing)] == [200, 200, 404]
    assert first.headers["x-request-id"] == "test-123"
    assert GENERATED.fullmatch(second.headers["x-request-id"])
    assert GENERATED.fullmatch(missing.headers["x-request-id"])

    access = access_lines(log_lines())
    assert [(a["request_id"], a["status"], a["tier"]) for a in access] == [
        ("test-123", 200, first.headers["server-timing"].split(";")[0]),
        (second.headers["x-request-id"], 200, "l1"),
        (missing.headers["x-request-id"], 404, None),
    ]
    assert access[0]["method"] == "GET" and access[0]["path"] == "/api/market/price/BTC"
    assert all(isinstance(a["duration_ms"], float) and a["duration_ms"] >= 0 for a in access)


async def test_lines_logged_inside_a_request_carry_its_id_and_only_those(
    log_lines: Lines,
) -> None:
    inner_log = logging.getLogger("marketsvc.test.inner")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        inner_log.warning("handling")
        # A task started by the handler inherits the request's context (and so its id).
        await asyncio.create_task(_log_later(inner_log))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=MetricsMiddleware(app, metrics=lambda: None))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        await c.get("/a", headers={"X-Request-ID": "req-a"})
        b = await c.get("/b")
    inner_log.warning("between requests")
    lines = [(line["msg"], line.get("request_id")) for line in log_lines()]
    rid_b = b.headers["x-request-id"]
    assert lines == [
        ("handling", "req-a"),
        ("from a task", "req-a"),
        ("request", "req-a"),
        ("handling", rid_b),
        ("from a task", rid_b),
        ("request", rid_b),
        ("between requests", None),
    ]


async def _log_later(logger: logging.Logger) -> None:
    await asyncio.sleep(0)
    logger.warning("from a task")


async def test_secret_query_values_stay_out_of_the_access_line(
    client: httpx.AsyncClient, log_lines: Lines
) -> None:
    await client.get("/api/market/price/BTC", params={"apikey": "QUERY-SECRET-1", "validate": "0"})
    (line,) = access_lines(log_lines())
    assert line["query"] == "apikey=***&validate=0"
    assert "QUERY-SECRET-1" not in json.dumps(log_lines())


async def test_admission_refusals_carry_an_id_and_an_access_line(log_lines: Lines) -> None:
    gate = asyncio.Event()

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    metrics = ServiceMetrics()
    app = MetricsMiddleware(AdmissionMiddleware(slow_app, limit=1), metrics=lambda: metrics)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        held = asyncio.create_task(c.get("/api/market/price/BTC"))
        await asyncio.sleep(0.05)
        refused = await c.get("/api/market/price/BTC", headers={"X-Request-ID": "refused-1"})
        gate.set()
        ok = await held
    assert refused.status_code == 503 and refused.headers["x-request-id"] == "refused-1"
    assert GENERATED.fullmatch(ok.headers["x-request-id"])
    statuses = {a["request_id"]: a["status"] for a in access_lines(log_lines())}
    assert statuses == {"refused-1": 503, ok.headers["x-request-id"]: 200}


async def test_an_unhandled_error_is_a_500_with_id_and_one_logged_traceback(
    log_lines: Lines,
) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    app = MetricsMiddleware(broken, metrics=lambda: None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        resp = await c.get("/x", headers={"X-Request-ID": "err-1"})
    assert resp.status_code == 500 and resp.headers["x-request-id"] == "err-1"
    assert resp.json()["detail"] == "internal error" and "boom" not in resp.text
    lines = log_lines()
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["request_id"] == "err-1"
    assert "RuntimeError: boom" in errors[0]["exc"]
    assert [(a["request_id"], a["status"]) for a in access_lines(lines)] == [("err-1", 500)]
