"""The emulator app as a whole: every provider is emulated, and the control API works."""

from __future__ import annotations

import httpx

from marketsvc.config import PROVIDER_NAMES
from marketsvc.sandbox import create_sandbox_app, sandbox_base_url


async def test_every_provider_is_emulated_at_its_real_base_path() -> None:
    app = create_sandbox_app()
    assert set(app.state.sandbox.providers) == set(PROVIDER_NAMES)
    assert sandbox_base_url("http://e", "coingecko") == "http://e/coingecko/api/v3"
    assert sandbox_base_url("http://e", "binance") == "http://e/binance"


async def test_control_api_faults_limits_clock_and_log() -> None:
    app = create_sandbox_app(limits={"binance": "4/second"})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as c:
        assert (await c.get("/binance/api/v3/ping")).status_code == 200
        bad = await c.post("/_control/faults", json={"provider": "nope", "kind": "error"})
        assert bad.status_code == 400
        ok = await c.post(
            "/_control/faults",
            json={"provider": "binance", "kind": "error", "status": 502, "count": 1},
        )
        assert ok.status_code == 200
        assert (await c.get("/binance/api/v3/ping")).status_code == 502
        assert (await c.get("/binance/api/v3/ping")).status_code == 200  # count 1 used up
        before = (await c.get("/_control/clock")).json()["now"]
        after = (await c.post("/_control/clock", json={"advance": 3600})).json()["now"]
        assert after - before >= 3600
        stats = (await c.get("/_control/stats")).json()
        assert stats["binance"]["limits"] == ["4/second"] and stats["binance"]["calls"] == 3
        log = (await c.get("/_control/calls", params={"provider": "binance"})).json()
        assert [row["status"] for row in log["calls"]] == [200, 502, 200]
        assert (
            await c.post("/_control/limits", json={"provider": "binance", "limits": "x"})
        ).status_code == 400
        await c.post("/_control/reset")
        assert (await c.get("/_control/calls")).json()["count"] == 0


async def test_secret_query_params_are_redacted_in_the_call_log() -> None:
    app = create_sandbox_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as c:
        await c.get(
            "/alphavantage/query",
            params={"function": "GLOBAL_QUOTE", "symbol": "IBM", "apikey": "SECRET-1"},
        )
        log = (await c.get("/_control/calls")).json()["calls"]
    assert log[0]["query"]["apikey"] == "***"
    assert "SECRET-1" not in str(log)
