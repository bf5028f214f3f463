"""A real ``marketsvc serve`` with every <P>_BASE_URL pointed at a separate emulator process
and keys set: prices equal the emulator's (synthetic) values; unknown symbols are 404."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import httpx

from marketsvc.sandbox import _synth
from tests.e2e.procs import emulator, service, service_env


def _matches(symbol: str, body: dict[str, object]) -> bool:
    t = datetime.fromisoformat(str(body["fetched_at"])).timestamp()
    price = float(str(body["price"]))
    return any(abs(_synth.price_at(symbol, t - d) - price) <= 1e-6 * price for d in (0, 60))


def test_prices_equal_the_emulator_and_unknown_is_404(tmp_path: Path) -> None:
    with ExitStack() as stack:
        emu = stack.enter_context(emulator(tmp_path))
        env = service_env(emu, f"sqlite+aiosqlite:///{tmp_path / 'values.db'}")
        root = stack.enter_context(service(tmp_path, env))
        for symbol in ("BTC", "AAPL"):
            resp = httpx.get(f"{root}/api/market/price/{symbol}")
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert "sandbox" not in body  # real mode: the service does not know it is an emulator
            assert _matches(symbol, body), body
        missing = httpx.get(f"{root}/api/market/price/NOPE123")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        calls = httpx.get(f"{emu}/_control/calls").json()["calls"]
        assert {c["provider"] for c in calls} >= {"binance", "finnhub"}
