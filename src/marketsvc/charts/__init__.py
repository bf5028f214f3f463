"""Charts: candlesticks with volume, overlays (SMA, EMA, Bollinger) and lower panes (RSI,
MACD), light or dark, as SVG or PNG. Pure: candles in, image bytes out."""

from __future__ import annotations

from collections.abc import Sequence

from marketsvc.charts.png import render_png
from marketsvc.charts.scene import Scene, build_scene
from marketsvc.charts.spec import (
    OVERLAYS,
    PANES,
    ChartFormat,
    ChartSpec,
    Study,
    ThemeName,
    parse_studies,
)
from marketsvc.charts.svg import render_svg
from marketsvc.domain import Candle


def render_chart(
    spec: ChartSpec,
    candles: Sequence[Candle],
    visible: int,
    fmt: ChartFormat,
    *,
    intraday: bool = False,
) -> bytes:
    """``candles`` oldest first (warm-up bars for the studies included); the last ``visible``
    are drawn."""
    scene = build_scene(spec, candles, visible, intraday=intraday)
    if fmt is ChartFormat.SVG:
        return render_svg(scene, spec.title)
    return render_png(scene)


def warmup_bars(studies: Sequence[Study]) -> int:
    """Bars to fetch before the visible range so every study has a value at its first bar."""
    return max((s.warmup for s in studies), default=0)


__all__ = [
    "OVERLAYS",
    "PANES",
    "ChartFormat",
    "ChartSpec",
    "Scene",
    "Study",
    "ThemeName",
    "build_scene",
    "parse_studies",
    "render_chart",
    "render_png",
    "render_svg",
    "warmup_bars",
]
