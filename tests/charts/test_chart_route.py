"""GET /api/market/chart/{symbol} through the real app on the in-process emulator: images of
the requested size and kind, provenance in headers, cached like any answer (a repeat makes no
upstream call), strict parameters, and a stock chart that skips weekends."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from tests.api.conftest import make_settings, running_app

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(make_settings(tmp_path, log_level="WARNING")) as pair:
        yield pair


def upstream_calls(app: FastAPI) -> int:
    return len(app.state.container.sandbox_app.state.sandbox.calls)


async def test_png_is_cached_bytes_with_provenance_headers(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = served
    params = {"format": "png", "indicators": "sma:20,bbands,rsi,macd", "width": 900,
              "height": 520, "theme": "dark"}  # fmt: skip
    first = await client.get("/api/market/chart/BTC", params=params)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png"
    assert first.headers["x-data-cached"] == "false" and first.headers["x-data-source"]
    assert first.headers["x-data-sandbox"] == "true"
    assert first.headers["server-timing"].startswith("upstream;dur=")
    image = Image.open(io.BytesIO(first.content))
    assert image.size == (900, 520)
    assert image.convert("RGB").getpixel((0, 519)) == (0x13, 0x17, 0x22)  # dark theme

    before = upstream_calls(app)
    second = await client.get("/api/market/chart/BTC", params=params)
    assert upstream_calls(app) == before  # 0 new upstream calls
    assert second.content == first.content
    assert second.headers["x-data-cached"] == "true"
    assert second.headers["server-timing"].startswith("l1;dur=")


async def test_stock_svg_skips_weekends(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = served
    svg = await client.get("/api/market/chart/AAPL", params={"days": 60, "indicators": "ema:10"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    history = (await client.get("/api/market/historical/AAPL", params={"days": 60})).json()
    bar_days = [date.fromisoformat(c["ts"][:10]) for c in history["candles"]]
    assert bar_days and all(d.weekday() < 5 for d in bar_days)

    root = ElementTree.fromstring(svg.content)
    classes = [el.get("class") for el in root.iter()]
    # One candle per bar, none for the weekends between them.
    assert classes.count("candle-up") + classes.count("candle-down") == len(bar_days)
    labels = [el.text or "" for el in root.iter(f"{SVG}text") if el.get("class") == "date-label"]
    named = {d.strftime("%d %b") for d in bar_days}
    assert labels and all(label[:6] in named for label in labels)
    assert "overlay-ema" in classes
    footer = [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "footer"]
    assert footer == ["source: yahoo · sandbox: synthetic data"]


@pytest.mark.parametrize(
    "params",
    [
        {"indicators": "foo"},
        {"indicators": "rsi,macd,rsi:7"},
        {"format": "gif"},
        {"theme": "blue"},
        {"width": 10},
        {"days": 0},
    ],
)
async def test_bad_parameters_are_422_problems(
    served: tuple[FastAPI, httpx.AsyncClient], params: dict[str, object]
) -> None:
    app, client = served
    before = upstream_calls(app)
    r = await client.get("/api/market/chart/AAPL", params=params)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert upstream_calls(app) == before


async def test_unknown_symbol_is_a_404_problem(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = served
    r = await client.get("/api/market/chart/ZZZQX", params={"asset_class": "stock"})
    assert r.status_code == 404 and r.json()["type"].endswith("/symbol-not-found")


async def test_generic_endpoint_points_to_the_chart_route(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = served
    r = await client.post("/api/market/market-data", json={"data_type": "chart", "symbol": "BTC"})
    assert r.status_code == 422 and "/chart/" in r.json()["detail"]
