"""The history store against the emulator: a 2-year daily request, then the same request
again (0 upstream calls), then one more day (exactly 1 call). Past ranges, so no bar is still
forming."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import make_settings, running_app


def _history_calls(state: object) -> int:
    calls = getattr(state, "calls", [])
    return sum(
        1
        for c in calls
        if "kline" in c.path
        or "chart" in c.path
        or "aggs" in c.path
        or "prices" in c.path
        or "market_chart" in c.path
        or "ohlc" in c.path
    )


async def test_two_years_then_again_then_one_more_day(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (app, c):
        state = app.state.container.sandbox_app.state.sandbox

        async def get(end: str) -> httpx.Response:
            return await c.get(
                "/api/market/historical/BTC",
                params={
                    "start": "2024-01-01",
                    "end": end,
                    "timespan": "day",
                    "force_refresh": "true",
                },
            )

        first = await get("2026-01-01")
        assert first.status_code == 200, first.text
        assert len(first.json()["candles"]) == 731
        after_first = _history_calls(state)
        assert after_first >= 1
        again = await get("2026-01-01")
        assert again.json()["candles"] == first.json()["candles"]
        assert _history_calls(state) == after_first, "the same range again must cost 0 calls"
        more = await get("2026-01-02")
        assert len(more.json()["candles"]) == 732
        assert _history_calls(state) == after_first + 1, "one more day must cost exactly 1 call"
