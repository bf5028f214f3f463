"""Light and dark colour sets. Translucent fills (volume, Bollinger band) are pre-blended with
the background, so both renderers draw opaque colours: no alpha compositing in the PNG path."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from marketsvc.charts.spec import ThemeName


@lru_cache(maxsize=256)
def blend(color: str, background: str, alpha: float) -> str:
    """``color`` at ``alpha`` over ``background`` as an opaque ``#rrggbb``."""
    fg = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    bg = [int(background[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = (round(a * alpha + b * (1 - alpha)) for a, b in zip(fg, bg, strict=True))
    return "#" + "".join(f"{c:02x}" for c in mixed)


@dataclass(frozen=True, slots=True)
class Theme:
    background: str
    text: str
    muted: str
    grid: str
    axis: str
    up: str
    down: str
    lines: tuple[str, ...]  # overlay and pane line colours, in study order

    @property
    def volume_up(self) -> str:
        return blend(self.up, self.background, 0.35)

    @property
    def volume_down(self) -> str:
        return blend(self.down, self.background, 0.35)

    def band_fill(self, color: str) -> str:
        return blend(color, self.background, 0.10)


THEMES: dict[ThemeName, Theme] = {
    ThemeName.LIGHT: Theme(
        background="#ffffff",
        text="#1f2430",
        muted="#6b7280",
        grid="#eceef2",
        axis="#c4c8d0",
        up="#089981",
        down="#f23645",
        lines=("#2962ff", "#ff9800", "#9c27b0", "#00897b", "#795548", "#e91e63"),
    ),
    ThemeName.DARK: Theme(
        background="#131722",
        text="#d1d4dc",
        muted="#8b93a5",
        grid="#1f2433",
        axis="#363c4e",
        up="#26a69a",
        down="#ef5350",
        lines=("#5b9cff", "#ffb74d", "#ce93d8", "#4dd0e1", "#bcaaa4", "#f48fb1"),
    ),
}
