"""The chart as a list of drawing primitives in pixel coordinates: laid out once, then written
as SVG (``svg.py``) or painted as PNG (``png.py``), so both formats show the same picture.

Layout, top to bottom: a title line and a legend line; the price pane (candles, overlays, and
volume in its lowest fifth); one lower pane per RSI/MACD study; the date labels. Prices are on
the right axis. Bars are placed by index (``x = left + (i + 0.5) * slot``), so gaps in trading
(weekends, holidays, halts) take no room.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from marketsvc.analytics.indicators import FloatArray
from marketsvc.charts._axes import date_labels, format_price, nice_ticks
from marketsvc.charts.spec import ChartSpec, Study
from marketsvc.charts.studies import study_series
from marketsvc.charts.themes import THEMES, Theme
from marketsvc.domain import Candle

Anchor = Literal["start", "middle", "end"]
FONT = 12
TOP, BOTTOM, LEFT, RIGHT = 44.0, 26.0, 12.0, 78.0
PANE_GAP = 10.0
LOWER_PANE_SHARE = 0.2
VOLUME_SHARE = 0.18


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    role: str


@dataclass(frozen=True, slots=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    color: str
    width: float
    role: str
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Polyline:
    points: tuple[tuple[float, float], ...]
    color: str
    width: float
    role: str
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str
    role: str


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float  # the text's vertical middle
    text: str
    color: str
    size: float
    role: str
    anchor: Anchor = "start"
    bold: bool = False


Item = Rect | Line | Polyline | Polygon | Text


@dataclass(slots=True)
class Scene:
    width: int
    height: int
    background: str
    items: list[Item] = field(default_factory=list)

    def roles(self, prefix: str) -> list[Item]:
        return [i for i in self.items if i.role.startswith(prefix)]


@dataclass(frozen=True, slots=True)
class _Scale:
    lo: float
    hi: float
    top: float
    bottom: float

    def y(self, value: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.bottom - (value - self.lo) / span * (self.bottom - self.top)


def text_width(text: str, size: float) -> float:
    """An estimate (DejaVu Sans averages about 0.6 em per character) used to place legend
    entries one after another; both renderers use fonts close enough to it."""
    return len(text) * size * 0.56


def build_scene(
    spec: ChartSpec, candles: Sequence[Candle], visible: int, *, intraday: bool
) -> Scene:
    """``candles`` oldest first, warm-up bars included; the last ``visible`` are drawn."""
    theme = THEMES[spec.theme]
    scene = Scene(spec.width, spec.height, theme.background)
    bars = list(candles[len(candles) - visible :]) if visible else []
    _title(scene, spec, theme, bars)
    if not bars:
        scene.items.append(
            Text(spec.width / 2, spec.height / 2, "no bars in this range", theme.muted, 14,
                 "empty", "middle")
        )  # fmt: skip
        return scene
    plot_w = spec.width - LEFT - RIGHT
    plot_h = spec.height - TOP - BOTTOM
    panes = spec.panes
    lower_h = plot_h * LOWER_PANE_SHARE if panes else 0.0
    price_bottom = TOP + plot_h - len(panes) * (lower_h + PANE_GAP)
    slot = plot_w / len(bars)
    xs = [LEFT + (i + 0.5) * slot for i in range(len(bars))]

    series = {s: study_series(s, candles, len(bars)) for s in spec.studies}
    labels = date_labels([b.ts for b in bars], slot, intraday)
    bottom_of_all = TOP + plot_h
    for i, _ in labels:  # vertical grid first: everything else draws over it
        scene.items.append(Line(xs[i], TOP, xs[i], bottom_of_all, theme.grid, 1, "grid-x"))
    _price_pane(scene, theme, spec, bars, xs, slot, price_bottom, series)
    top = price_bottom + PANE_GAP
    for n, study in enumerate(panes):
        color = theme.lines[(len(spec.overlays) + n) % len(theme.lines)]
        _lower_pane(scene, theme, study, series[study], xs, slot, top, top + lower_h, color)
        top += lower_h + PANE_GAP
    scene.items.append(
        Line(LEFT, bottom_of_all, LEFT + plot_w, bottom_of_all, theme.axis, 1, "axis")
    )
    for i, text in labels:
        # A label centred under the first or last bar would be cut by the image's edge.
        half = text_width(text, 11) / 2
        x = min(max(xs[i], half + 2), spec.width - half - 2)
        scene.items.append(
            Text(x, bottom_of_all + 14, text, theme.muted, 11, "date-label", "middle")
        )
    return scene


def _title(scene: Scene, spec: ChartSpec, theme: Theme, bars: list[Candle]) -> None:
    scene.items.append(Text(LEFT, 15, spec.title, theme.text, 14, "title", bold=True))
    if spec.footer:
        scene.items.append(Text(spec.width - 8, 15, spec.footer, theme.muted, 11, "footer", "end"))
    if not bars:
        return
    last, first = bars[-1], bars[0]
    change = (last.close / first.open - 1) * 100 if first.open else 0.0
    x = LEFT + text_width(spec.title, 14) * 1.05 + 14
    quote = f"O {last.open:,.6g}  H {last.high:,.6g}  L {last.low:,.6g}  C {last.close:,.6g}"
    scene.items.append(Text(x, 15, quote, theme.text, 12, "ohlc"))
    x += text_width(quote, 12) + 10
    color = theme.up if change >= 0 else theme.down
    scene.items.append(Text(x, 15, f"{change:+.2f}% over the range", color, 12, "change"))


def _price_pane(
    scene: Scene,
    theme: Theme,
    spec: ChartSpec,
    bars: list[Candle],
    xs: list[float],
    slot: float,
    bottom: float,
    series: dict[Study, dict[str, FloatArray]],
) -> None:
    right = spec.width - RIGHT
    vol_h = (bottom - TOP) * VOLUME_SHARE
    price_bottom = bottom - vol_h - 4
    lows = [b.low for b in bars]
    highs = [b.high for b in bars]
    for study in spec.overlays:
        for values in series[study].values():
            finite = values[np.isfinite(values)]
            if finite.size:
                lows.append(float(finite.min()))
                highs.append(float(finite.max()))
    lo, hi = min(lows), max(highs)
    pad = (hi - lo) * 0.04 or abs(hi) * 0.01 or 1.0
    scale = _Scale(lo - pad, hi + pad, TOP + 6, price_bottom)
    ticks = nice_ticks(scale.lo, scale.hi, max(3, int((price_bottom - TOP) / 45)))
    step = ticks[1] - ticks[0] if len(ticks) > 1 else max(abs(hi), 1.0)
    for t in ticks:
        y = scale.y(t)
        scene.items.append(Line(LEFT, y, right, y, theme.grid, 1, "grid-y"))
        scene.items.append(
            Text(right + 6, y, format_price(t, step), theme.muted, 11, "price-label")
        )
    scene.items.append(Line(right, TOP, right, bottom, theme.axis, 1, "axis"))

    # Volume in the pane's lowest fifth, scaled to the largest bar shown.
    volumes = [b.volume or 0.0 for b in bars]
    top_volume = max(volumes) or 1.0
    body_w = max(1.0, slot * 0.7)
    for x, b, v in zip(xs, bars, volumes, strict=True):
        if v > 0:
            h = max(1.0, v / top_volume * vol_h)
            fill = theme.volume_up if b.close >= b.open else theme.volume_down
            scene.items.append(Rect(x - body_w / 2, bottom - h, body_w, h, fill, "volume"))

    # Bands first: their fill would hide the lines drawn before them.
    drawing_order = sorted(enumerate(spec.overlays), key=lambda pair: pair[1].name != "bbands")
    for n, study in drawing_order:
        color = theme.lines[n % len(theme.lines)]
        _overlay(scene, theme, study, series[study], xs, scale, color)

    for x, b in zip(xs, bars, strict=True):
        up = b.close >= b.open
        color = theme.up if up else theme.down
        scene.items.append(Line(x, scale.y(b.high), x, scale.y(b.low), color, 1, "wick"))
        top_y = scale.y(max(b.open, b.close))
        h = max(1.0, scale.y(min(b.open, b.close)) - top_y)
        role = "candle-up" if up else "candle-down"
        scene.items.append(Rect(x - body_w / 2, top_y, body_w, h, color, role))

    last = bars[-1]
    y = scale.y(last.close)
    color = theme.up if last.close >= last.open else theme.down
    scene.items.append(Line(LEFT, y, right, y, color, 1, "last-line", dashed=True))
    scene.items.append(Rect(right + 1, y - 9, RIGHT - 2, 18, color, "last-tag"))
    label = format_price(last.close, step / 1000)
    scene.items.append(Text(right + 6, y, label, "#ffffff", 11, "last-price", bold=True))

    x = LEFT
    for n, study in enumerate(spec.overlays):
        color = theme.lines[n % len(theme.lines)]
        scene.items.append(Text(x, 33, study.label, color, 12, "legend", bold=True))
        x += text_width(study.label, 12) + 16


def _overlay(
    scene: Scene,
    theme: Theme,
    study: Study,
    series: dict[str, FloatArray],
    xs: list[float],
    scale: _Scale,
    color: str,
) -> None:
    role = f"overlay-{study.name}"
    if study.name == "bbands":
        upper, middle, lower = series["upper"], series["middle"], series["lower"]
        for run in _runs(upper):
            top = [(xs[i], scale.y(float(upper[i]))) for i in run]
            low = [(xs[i], scale.y(float(lower[i]))) for i in reversed(run)]
            scene.items.append(Polygon(tuple(top + low), theme.band_fill(color), f"{role}-fill"))
        _lines(scene, upper, xs, scale, color, 1, role)
        _lines(scene, lower, xs, scale, color, 1, role)
        _lines(scene, middle, xs, scale, color, 1, role, dashed=True)
        return
    _lines(scene, series["value"], xs, scale, color, 1.5, role)


def _lower_pane(
    scene: Scene,
    theme: Theme,
    study: Study,
    series: dict[str, FloatArray],
    xs: list[float],
    slot: float,
    top: float,
    bottom: float,
    color: str,
) -> None:
    right = scene.width - RIGHT
    role = f"pane-{study.name}"
    scene.items.append(Line(LEFT, top, right, top, theme.axis, 1, "axis"))
    scene.items.append(Line(right, top, right, bottom, theme.axis, 1, "axis"))
    if study.name == "rsi":
        scale = _Scale(0, 100, top + 4, bottom - 4)
        for level in (30, 70):
            y = scale.y(level)
            scene.items.append(Line(LEFT, y, right, y, theme.muted, 1, "guide", dashed=True))
            scene.items.append(Text(right + 6, y, str(level), theme.muted, 11, "price-label"))
        _lines(scene, series["value"], xs, scale, color, 1.5, role)
        last = _last(series["value"])
    else:
        line, signal, hist = series["macd"], series["signal"], series["hist"]
        stacked = np.concatenate([line, signal, hist])
        finite = stacked[np.isfinite(stacked)]
        extent = float(np.abs(finite).max()) if finite.size else 1.0
        scale = _Scale(-extent * 1.1, extent * 1.1, top + 4, bottom - 4)
        zero = scale.y(0)
        scene.items.append(Line(LEFT, zero, right, zero, theme.axis, 1, "guide"))
        ticks = nice_ticks(scale.lo, scale.hi, 4)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 10 ** math.floor(math.log10(extent or 1))
        for t in ticks:
            label = format_price(t, step)
            scene.items.append(Text(right + 6, scale.y(t), label, theme.muted, 11, "price-label"))
        body_w = max(1.0, slot * 0.7)
        for x, h in zip(xs, hist, strict=True):
            if math.isfinite(h):
                y = scale.y(float(h))
                fill = theme.volume_up if h >= 0 else theme.volume_down
                scene.items.append(
                    Rect(x - body_w / 2, min(y, zero), body_w, max(1.0, abs(zero - y)), fill,
                         f"{role}-hist")
                )  # fmt: skip
        _lines(scene, line, xs, scale, color, 1.5, role)
        signal_color = theme.lines[(theme.lines.index(color) + 1) % len(theme.lines)]
        _lines(scene, signal, xs, scale, signal_color, 1, f"{role}-signal")
        last = _last(line)
    text = study.label if last is None else f"{study.label}  {last:.2f}"
    scene.items.append(Text(LEFT + 4, top + 10, text, color, 11, "pane-label", bold=True))


def _lines(
    scene: Scene,
    values: FloatArray,
    xs: list[float],
    scale: _Scale,
    color: str,
    width: float,
    role: str,
    *,
    dashed: bool = False,
) -> None:
    for run in _runs(values):
        points = tuple((xs[i], scale.y(float(values[i]))) for i in run)
        if len(points) > 1:
            scene.items.append(Polyline(points, color, width, role, dashed))


def _runs(values: FloatArray) -> list[range]:
    """Index ranges of consecutive finite values (a warm-up or a hole breaks a line)."""
    runs: list[range] = []
    start: int | None = None
    for i, ok in enumerate(np.isfinite(values).tolist()):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            runs.append(range(start, i))
            start = None
    if start is not None:
        runs.append(range(start, len(values)))
    return runs


def _last(values: FloatArray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else None
