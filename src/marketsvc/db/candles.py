"""CandleRepository: the history store's SQL, over the ``candles`` table (PostgreSQL or SQLite).

Bars are keyed by (asset class, symbol, interval, ts) with ``ts`` the bar's start in epoch
seconds; ``fetched_at`` (epoch seconds) tells the history service whether a bar was still
forming when it was fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.tables import candles
from marketsvc.domain import AssetClass, Candle, Interval

_VALUES = ("open", "high", "low", "close", "volume", "source", "fetched_at")


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """Bars of one provider within a range: first and last bar start (epoch s) and count."""

    source: str
    first: int
    last: int
    count: int


class CandleRepository:
    """Reads and upserts bars; the engine belongs to the caller."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        if dialect == "postgresql":
            self._insert: Any = postgresql.insert
        elif dialect == "sqlite":
            self._insert = sqlite.insert
        else:
            raise ValueError(f"CandleRepository supports postgresql and sqlite, not {dialect}")

    async def upsert(
        self,
        asset_class: AssetClass,
        symbol: str,
        interval: Interval,
        bars: Sequence[Candle],
        source: str,
        fetched_at: float,
    ) -> int:
        """Insert or replace ``bars``; returns how many rows were written.

        A row fetched later is never overwritten by one fetched earlier, so a slow concurrent
        fetch cannot put back an older version of a bar.
        """
        if not bars:
            return 0
        rows = [
            {
                "asset_class": asset_class.value,
                "symbol": symbol,
                "interval": interval.value,
                "ts": _epoch(c.ts),
                "open": c.open,
                "high": c.high,
                "low": c.low,
                "close": c.close,
                "volume": c.volume,
                "source": source,
                "fetched_at": fetched_at,
            }
            for c in bars
        ]
        stmt = self._insert(candles)
        stmt = stmt.on_conflict_do_update(
            index_elements=["asset_class", "symbol", "interval", "ts"],
            set_={name: stmt.excluded[name] for name in _VALUES},
            where=candles.c.fetched_at <= stmt.excluded.fetched_at,
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt, rows)
        return len(rows)

    async def range(
        self,
        asset_class: AssetClass,
        symbol: str,
        interval: Interval,
        start_ts: int,
        end_ts: int,
    ) -> list[Candle]:
        """Bars starting in ``[start_ts, end_ts)``, oldest first."""
        query = (
            select(
                candles.c.ts,
                candles.c.open,
                candles.c.high,
                candles.c.low,
                candles.c.close,
                candles.c.volume,
            )
            .where(_key(asset_class, symbol, interval, start_ts, end_ts))
            .order_by(candles.c.ts)
        )
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return [
                Candle(datetime.fromtimestamp(ts, tz=UTC), o, h, lo, c, v)
                for ts, o, h, lo, c, v in result
            ]

    async def spans(
        self,
        asset_class: AssetClass,
        symbol: str,
        interval: Interval,
        start_ts: int,
        end_ts: int,
    ) -> list[SourceSpan]:
        """Which provider supplied the bars starting in ``[start_ts, end_ts)``: one span per
        source (first bar, last bar, count), in order of the first bar."""
        query = (
            select(candles.c.source, func.min(candles.c.ts), func.max(candles.c.ts), func.count())
            .where(_key(asset_class, symbol, interval, start_ts, end_ts))
            .group_by(candles.c.source)
            .order_by(func.min(candles.c.ts))
        )
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return [SourceSpan(str(src), int(lo), int(hi), int(n)) for src, lo, hi, n in result]

    async def timestamps(
        self,
        asset_class: AssetClass,
        symbol: str,
        interval: Interval,
        start_ts: int,
        end_ts: int,
    ) -> dict[int, float]:
        """``{bar start: fetched_at}`` for bars starting in ``[start_ts, end_ts)``."""
        query = select(candles.c.ts, candles.c.fetched_at).where(
            _key(asset_class, symbol, interval, start_ts, end_ts)
        )
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return {int(ts): float(fetched_at) for ts, fetched_at in result}


def _key(
    asset_class: AssetClass, symbol: str, interval: Interval, start_ts: int, end_ts: int
) -> Any:
    return and_(
        candles.c.asset_class == asset_class.value,
        candles.c.symbol == symbol,
        candles.c.interval == interval.value,
        candles.c.ts >= start_ts,
        candles.c.ts < end_ts,
    )


def _epoch(moment: datetime) -> int:
    # A naive datetime is UTC here, never local time.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
