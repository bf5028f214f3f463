"""initial: cache entries, candles, provider call log

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("fetched_at", sa.Float, nullable=False),
        sa.Column("fresh_until", sa.Float, nullable=False),
        sa.Column("stale_until", sa.Float, nullable=False),
    )
    op.create_index("ix_cache_entries_stale_until", "cache_entries", ["stale_until"])
    op.create_table(
        "candles",
        sa.Column("asset_class", sa.String(8), primary_key=True),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("interval", sa.String(8), primary_key=True),
        sa.Column("ts", sa.BigInteger, primary_key=True),
        sa.Column("open", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("close", sa.Float, nullable=False),
        sa.Column("volume", sa.Float, nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("fetched_at", sa.Float, nullable=False),
    )
    op.create_table(
        "provider_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
    )
    op.create_index("ix_provider_calls_provider_ts", "provider_calls", ["provider", "ts"])


def downgrade() -> None:
    op.drop_index("ix_provider_calls_provider_ts", table_name="provider_calls")
    op.drop_table("provider_calls")
    op.drop_table("candles")
    op.drop_index("ix_cache_entries_stale_until", table_name="cache_entries")
    op.drop_table("cache_entries")
