"""Table metadata: the target of Alembic autogenerate. The schema itself is what the
migrations in ``db/migrations`` say; a test asserts the two agree."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

# L3 of the cache: one row per cache key; times are epoch seconds (float) so the same row
# works on SQLite and PostgreSQL without timezone surprises.
cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("payload", LargeBinary, nullable=False),
    Column("source", String(64), nullable=False),
    Column("fetched_at", Float, nullable=False),
    Column("fresh_until", Float, nullable=False),
    Column("stale_until", Float, nullable=False),
    Index("ix_cache_entries_stale_until", "stale_until"),
)

# The history store: one closed (or still-forming) bar per (asset class, symbol, interval, ts).
candles = Table(
    "candles",
    metadata,
    Column("asset_class", String(8), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("interval", String(8), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=True),
    Column("source", String(64), nullable=False),
    Column("fetched_at", Float, nullable=False),
)

# Upstream calls made per provider, so long windows (Alpha Vantage's 25/day, CoinGecko's
# 10,000/month) survive a restart when no Redis is configured.
provider_calls = Table(
    "provider_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("ts", Float, nullable=False),
    Column("weight", Integer, nullable=False),
    Index("ix_provider_calls_provider_ts", "provider", "ts"),
)

# Facts about the database itself; "data_mode" says whether it holds real or sandbox data, so
# the two never mix (db/mode.py).
service_meta = Table(
    "service_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

# The symbol universes: each provider's whole symbol list for one asset class, as it was last
# fetched (one compressed row per list, replaced whole, so a reader never sees half a list and
# a failed refresh keeps the last good one).
symbol_universes = Table(
    "symbol_universes",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("asset_class", String(8), primary_key=True),
    Column("fetched_at", Float, nullable=False),
    Column("entries", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)

# Client API keys (keys/): only the SHA-256 of a key is kept, never the key. ``id`` is the
# public part of the key (``msk_<id>_<secret>``), used for lookup and in logs. Limits are kept
# as their text ("60/minute"); times are epoch seconds like every table here.
client_keys = Table(
    "client_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(64), nullable=False),
    Column("rate_limit", String(64), nullable=True),
    Column("quota", String(64), nullable=True),
    Column("priority", String(16), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("rotated_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
)

# Metered usage per key, UTC day and route template; replicas add their in-memory counts to
# these rows in batches (keys/metering.py), never one write per request.
client_key_usage = Table(
    "client_key_usage",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("endpoint", String(200), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("cache_hits", BigInteger, nullable=False),
    Column("upstream_calls", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
)
