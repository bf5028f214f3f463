"""What a chart shows: ``ChartSpec`` (size, theme, format) and the studies parsed from the
``indicators`` query (``sma:20,ema:50,bbands,rsi,macd``).

Overlays (sma, ema, bbands) are drawn on the price pane; rsi and macd get a lower pane each.
A period after a colon overrides the default; the same study may appear with several periods
(``sma:20,sma:50``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from marketsvc.errors import InvalidInputError

OVERLAYS = ("sma", "ema", "bbands")
PANES = ("rsi", "macd")
DEFAULT_PERIODS = {"sma": 20, "ema": 50, "bbands": 20, "rsi": 14, "macd": 26}
MAX_STUDIES = 6
MAX_PANES = 2
MIN_WIDTH, MAX_WIDTH = 320, 2400
MIN_HEIGHT, MAX_HEIGHT = 240, 1600


class ChartFormat(StrEnum):
    SVG = "svg"
    PNG = "png"

    @property
    def media_type(self) -> str:
        return "image/svg+xml" if self is ChartFormat.SVG else "image/png"


class ThemeName(StrEnum):
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True, slots=True)
class Study:
    """One indicator on the chart: ``name`` from OVERLAYS or PANES and its period (MACD is
    always 12/26/9, so its period is fixed)."""

    name: str
    period: int

    @property
    def label(self) -> str:
        if self.name == "bbands":
            return f"BB {self.period}, 2"
        if self.name == "macd":
            return "MACD 12, 26, 9"
        return f"{self.name.upper()} {self.period}"

    @property
    def warmup(self) -> int:
        """Bars needed before the first value (history fetched ahead of the visible range)."""
        if self.name == "macd":
            return 26 + 9
        return self.period + 1


@dataclass(frozen=True, slots=True)
class ChartSpec:
    title: str
    width: int = 1000
    height: int = 600
    theme: ThemeName = ThemeName.LIGHT
    studies: tuple[Study, ...] = ()
    footer: str = ""

    def __post_init__(self) -> None:
        if not MIN_WIDTH <= self.width <= MAX_WIDTH:
            raise InvalidInputError(f"width must be in {MIN_WIDTH}..{MAX_WIDTH}")
        if not MIN_HEIGHT <= self.height <= MAX_HEIGHT:
            raise InvalidInputError(f"height must be in {MIN_HEIGHT}..{MAX_HEIGHT}")

    @property
    def overlays(self) -> tuple[Study, ...]:
        return tuple(s for s in self.studies if s.name in OVERLAYS)

    @property
    def panes(self) -> tuple[Study, ...]:
        return tuple(s for s in self.studies if s.name in PANES)


def parse_studies(text: str | None) -> tuple[Study, ...]:
    """``"sma:20,bbands,rsi"`` → studies in the given order, duplicates dropped.

    InvalidInputError for an unknown name, a bad period, more than MAX_STUDIES studies or
    more than MAX_PANES lower panes."""
    if not text:
        return ()
    studies: list[Study] = []
    for raw in text.split(","):
        part = raw.strip().lower()
        if not part:
            continue
        name, _, period_text = part.partition(":")
        if name not in DEFAULT_PERIODS:
            known = ", ".join((*OVERLAYS, *PANES))
            raise InvalidInputError(f"query.indicators: unknown {name!r}; known: {known}")
        period = DEFAULT_PERIODS[name]
        if period_text:
            if name == "macd":
                raise InvalidInputError("query.indicators: macd takes no period (12, 26, 9)")
            if not period_text.isdigit() or not 2 <= int(period_text) <= 200:
                raise InvalidInputError(
                    f"query.indicators: {name} period must be an integer in 2..200"
                )
            period = int(period_text)
        study = Study(name, period)
        if study not in studies:
            studies.append(study)
    if len(studies) > MAX_STUDIES:
        raise InvalidInputError(f"query.indicators: at most {MAX_STUDIES} studies")
    if sum(s.name in PANES for s in studies) > MAX_PANES:
        raise InvalidInputError(f"query.indicators: at most {MAX_PANES} lower panes (rsi, macd)")
    return tuple(studies)
