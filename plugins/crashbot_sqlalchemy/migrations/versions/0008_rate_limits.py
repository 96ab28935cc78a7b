"""Rate limits counted in the database, so they hold across processes and replicas.

Revision ID: 0008_rate_limits
Revises: 0007_alert_groups
Create Date: 2026-12-05

``rate_limits`` holds one row per (key, fixed window: start and end): how many attempts the
key made in it (the status page's subscribe form counts its requests per
client address here). Keys are HMACs, never the addresses themselves; rows of
ended windows are deleted as new keys are counted. A new table: nothing
stored before changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_rate_limits"
down_revision: str | None = "0007_alert_groups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table and the index its pruning reads."""
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", "window_end", name="pk_rate_limits"),
    )
    op.create_index("ix_rate_limits_window_end", "rate_limits", ["window_end"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_index("ix_rate_limits_window_end", table_name="rate_limits")
    op.drop_table("rate_limits")
