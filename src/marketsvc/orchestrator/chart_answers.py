"""Chart answers: candles from the history store, drawn by ``marketsvc.charts``, cached as
image bytes under ``DataType.CHART`` like any other answer (singleflight, serve-stale,
force-refresh). A function over the orchestrator's parts rather than another method on it,
so the chart code stays in one module.

The studies need history before the first visible bar (an SMA 50 has no value for 49 bars):
that many bars more are fetched, computed over, and cut off before drawing.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from marketsvc.charts import ChartFormat, ChartSpec, Study, ThemeName, render_chart, warmup_bars
from marketsvc.domain import AssetClass, DataType, Freshness, Interval, Priority
from marketsvc.orchestrator.answers import Envelope
from marketsvc.orchestrator.service import DataOrchestrator

# Calendar time per bar when fetching the warm-up: stocks trade about 5 days in 7 (and not
# on holidays), so daily warm-up bars need ~1.5 calendar days each.
_CALENDAR_PER_BAR = {AssetClass.STOCK: 1.6, AssetClass.CRYPTO: 1.0}


async def chart(
    orch: DataOrchestrator,
    raw_symbol: str,
    asset_class: AssetClass | None = None,
    *,
    fmt: ChartFormat = ChartFormat.SVG,
    days: int = 90,
    interval: Interval = Interval.DAY,
    studies: tuple[Study, ...] = (),
    theme: ThemeName = ThemeName.LIGHT,
    width: int = 1000,
    height: int = 600,
    note: str = "",
    force_refresh: bool = False,
    priority: Priority = Priority.MEDIUM,
) -> Envelope:
    """The chart as an Envelope whose ``payload`` is the SVG or PNG bytes. ``note`` is shown
    beside the source in the chart's corner (e.g. that the data is synthetic)."""
    inst = orch.instrument(raw_symbol, asset_class)
    orch.usage.track(f"{inst.asset_class.value}:{inst.symbol}")
    start, end = orch.source.range(None, None, days, interval)
    per_bar = interval.seconds * _CALENDAR_PER_BAR[inst.asset_class]
    fetch_from = start - timedelta(seconds=warmup_bars(studies) * per_bar)
    # Validated before the cache key is built, so a bad size is a 422, never a cached error.
    spec = ChartSpec(
        title=f"{inst.symbol} · {interval.value}",
        width=width,
        height=height,
        theme=theme,
        studies=studies,
    )

    async def load() -> tuple[bytes, str]:
        bars = await orch.source.candles(inst, interval, fetch_from, end, priority)
        source, _ = await orch.source.provenance(inst, interval, start, end)
        # The bars /historical answers for the same days: ``start`` rounded down to its bar.
        first = start - timedelta(seconds=interval.seconds)
        visible = sum(1 for b in bars if b.ts > first)
        footer = f"source: {source}" + (f" · {note}" if note else "")
        drawn = ChartSpec(spec.title, width, height, theme, studies, footer)
        intraday = interval in (Interval.MINUTE, Interval.HOUR)
        # ~5 ms (SVG) to ~25 ms (PNG) of CPU: off the event loop.
        image = await asyncio.to_thread(render_chart, drawn, bars, visible, fmt, intraday=intraday)
        return image, source

    # No time in the key: "the last N days, drawn now" stays one entry whose 60 s freshness
    # (then serve-stale and a background redraw) says how old the picture may be.
    params: dict[str, object] = {
        "f": fmt.value,
        "d": days,
        "i": interval.value,
        "n": [f"{s.name}:{s.period}" for s in studies],
        "t": theme.value,
        "w": width,
        "h": height,
    }
    return await orch.answers.answer(
        DataType.CHART,
        f"{inst.asset_class.value}:{inst.symbol}",
        params,
        load,
        force_refresh=force_refresh,
        native=Freshness.DELAYED,
    )
