"""symbol universes: each provider's stored symbol list

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "symbol_universes",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("asset_class", sa.String(8), primary_key=True),
        sa.Column("fetched_at", sa.Float, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("symbol_universes")
