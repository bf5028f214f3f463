"""The data-mode stamp: a database holds real data or sandbox (synthetic) data, never both.

The first run against a database stamps it with its mode; a later run in the other mode is
refused with a message that says how to get out (the default database file differs per mode,
so this only trips when DATABASE_URL points both modes at one database).
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from marketsvc.db.tables import service_meta
from marketsvc.errors import ConfigError

_KEY = "data_mode"


class DataModeError(ConfigError):
    """The database holds the other mode's data."""


def mode_name(sandbox: bool) -> str:
    return "sandbox" if sandbox else "real"


async def claim_data_mode(engine: AsyncEngine, mode: str) -> None:
    """Stamp the database with ``mode`` on first use; refuse a database of the other mode."""
    async with engine.begin() as conn:
        stored = (
            await conn.execute(select(service_meta.c.value).where(service_meta.c.key == _KEY))
        ).scalar_one_or_none()
        if stored is None:
            try:
                await conn.execute(insert(service_meta).values(key=_KEY, value=mode))
            except IntegrityError:  # another replica stamped it first: read theirs
                stored = None
            else:
                return
    if stored is None:
        async with engine.connect() as conn:
            stored = (
                await conn.execute(select(service_meta.c.value).where(service_meta.c.key == _KEY))
            ).scalar_one()
    if stored != mode:
        raise DataModeError(
            f"DATABASE_URL holds {stored} data but this run is in {mode} mode, and sandbox and "
            f"real data never mix: point DATABASE_URL at another database (or unset it: the "
            f"defaults are ./marketsvc.db for real data and ./marketsvc-sandbox.db for the "
            f"sandbox)"
        )
