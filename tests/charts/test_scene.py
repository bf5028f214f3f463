"""The chart layout, pure: bars by index (weekends take no room), labels on bar dates,
studies parsed strictly, both themes, and both renderers drawing the same scene."""

from __future__ import annotations

import io
import itertools
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from PIL import Image

from marketsvc.charts import (
    ChartFormat,
    ChartSpec,
    Study,
    ThemeName,
    build_scene,
    parse_studies,
    render_chart,
    warmup_bars,
)
from marketsvc.charts._axes import format_price, nice_ticks
from marketsvc.charts.scene import Rect, Text
from marketsvc.domain import Candle
from marketsvc.errors import InvalidInputError

SVG = "{http://www.w3.org/2000/svg}"


def weekday_candles(n: int, start: datetime = datetime(2026, 3, 2, tzinfo=UTC)) -> list[Candle]:
    """``n`` daily bars on weekdays only (as a stock trades), a gentle zigzag."""
    bars: list[Candle] = []
    day, price = start, 100.0
    while len(bars) < n:
        if day.weekday() < 5:
            move = 1.5 if len(bars) % 3 else -2.0
            bars.append(Candle(day, price, price + 2.5, price - 2.0, price + move, 1e6 + len(bars)))
            price += move
        day += timedelta(days=1)
    return bars


def test_bars_are_placed_by_index_so_weekends_leave_no_gap() -> None:
    bars = weekday_candles(30)
    scene = build_scene(ChartSpec("T"), bars, 30, intraday=False)
    bodies = [i for i in scene.items if isinstance(i, Rect) and i.role.startswith("candle-")]
    assert len(bodies) == 30
    centres = [b.x + b.w / 2 for b in bodies]
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(centres)}
    assert len(gaps) == 1  # Friday → Monday is one slot, like Monday → Tuesday
    # Every date label names a bar's date: never a Saturday or Sunday.
    labels = [i.text for i in scene.roles("date-label") if isinstance(i, Text)]
    assert len(labels) >= 4
    bar_days = {b.ts.strftime("%d %b") for b in bars}
    assert all(label[:6] in bar_days for label in labels)
    assert labels[0].endswith("2026")  # the first label carries the year


def test_warmup_bars_are_computed_over_but_not_drawn() -> None:
    studies = parse_studies("sma:20,rsi")
    assert warmup_bars(studies) == 21
    bars = weekday_candles(80)
    scene = build_scene(ChartSpec("T", studies=studies), bars, 50, intraday=False)
    assert len(scene.roles("candle-")) == 50
    sma_lines = scene.roles("overlay-sma")
    # With 30 warm-up bars, the SMA 20 has a value from the first visible bar on: one line.
    assert len(sma_lines) == 1 and len(sma_lines[0].points) == 50  # type: ignore[union-attr]
    assert scene.roles("pane-rsi") and scene.roles("pane-label")


def test_parse_studies_is_strict() -> None:
    assert parse_studies("sma:50, EMA ,bbands,macd") == (
        Study("sma", 50), Study("ema", 50), Study("bbands", 20), Study("macd", 26),
    )  # fmt: skip
    assert parse_studies("sma,sma:20") == (Study("sma", 20),)  # the same study once
    for bad in ("foo", "sma:1", "sma:x", "macd:9", "rsi,macd,rsi:7", "sma:2,sma:3,sma:4,sma:5,"
                "sma:6,sma:7,sma:8"):  # fmt: skip
        with pytest.raises(InvalidInputError):
            parse_studies(bad)
    with pytest.raises(InvalidInputError):
        ChartSpec("T", width=100)


def test_svg_has_the_expected_elements_and_size() -> None:
    spec = ChartSpec("AAPL · day", width=800, height=500, studies=parse_studies("bbands,macd"))
    svg = render_chart(spec, weekday_candles(120), 90, ChartFormat.SVG)
    root = ElementTree.fromstring(svg)  # well-formed XML
    assert (root.get("width"), root.get("height")) == ("800", "500")
    classes = [el.get("class") for el in root.iter()]
    assert classes.count("wick") == 90
    assert classes.count("candle-up") + classes.count("candle-down") == 90
    assert classes.count("volume") == 90
    assert "overlay-bbands-fill" in classes and "pane-macd-hist" in classes
    assert root.find(f"{SVG}title").text == "AAPL · day"  # type: ignore[union-attr]
    prices = [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "price-label"]
    assert prices and all(re.fullmatch(r"-?[\d,]+(\.\d+)?", p or "") for p in prices)


@pytest.mark.parametrize("theme", list(ThemeName))
def test_png_has_the_requested_size_and_theme_background(theme: ThemeName) -> None:
    spec = ChartSpec("BTC", width=640, height=360, theme=theme, studies=parse_studies("rsi"))
    png = render_chart(spec, weekday_candles(60), 60, ChartFormat.PNG)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (640, 360)
    corner = image.convert("RGB").getpixel((1, 359))
    assert corner == ((255, 255, 255) if theme is ThemeName.LIGHT else (0x13, 0x17, 0x22))
    # Candles were painted: both the up and the down colour occur.
    colors = {c for _, c in image.convert("RGB").getcolors(1 << 20) or []}
    up, down = ((8, 153, 129), (242, 54, 69)) if theme is ThemeName.LIGHT else (
        (38, 166, 154), (239, 83, 80))  # fmt: skip
    assert up in colors and down in colors


def test_no_bars_draws_a_message_not_an_error() -> None:
    scene = build_scene(ChartSpec("X"), [], 0, intraday=False)
    assert [i.text for i in scene.roles("empty") if isinstance(i, Text)] == [
        "no bars in this range"
    ]


def test_intraday_labels_show_times_and_the_day_where_it_changes() -> None:
    start = datetime(2026, 3, 2, 22, tzinfo=UTC)
    bars = [Candle(start + timedelta(hours=h), 10, 11, 9, 10.5, 1.0) for h in range(48)]
    scene = build_scene(ChartSpec("T", width=600), bars, 48, intraday=True)
    labels = [i.text for i in scene.roles("date-label") if isinstance(i, Text)]
    assert labels[0] == "02 Mar 22:00"
    assert any(re.fullmatch(r"\d\d:\d\d", t) for t in labels)
    assert any(t.startswith("03 Mar") for t in labels[1:])


def test_nice_ticks_and_price_format() -> None:
    assert nice_ticks(0.0, 10.0, 5) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(61234.0, 70021.0, 4) == [62500.0, 65000.0, 67500.0, 70000.0]
    assert format_price(65000.0, 2500.0) == "65,000"
    assert format_price(1.0834, 0.0005) == "1.0834"
    assert format_price(182.5, 2.5) == "182.5"
    assert format_price(12345.678, 0.01) == "12,345.68"
