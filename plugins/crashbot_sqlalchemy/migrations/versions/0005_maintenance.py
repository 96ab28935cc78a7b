"""Scheduled maintenance: the ``maintenances`` and ``maintenance_updates`` tables.

Revision ID: 0005_maintenance
Revises: 0004_record
Create Date: 2026-12-05

Maintenances are not incidents: they live in their own tables, so no metrics
query or incident listing ever sees them. Nothing to backfill.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_maintenance"
down_revision: str | None = "0004_record"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the two tables and their indexes."""
    op.create_table(
        "maintenances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("scheduled_for", _utc(), nullable=False),
        sa.Column("scheduled_until", _utc(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.JSON(), nullable=True),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("completed_at", _utc(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenances")),
        sa.UniqueConstraint("ref", name=op.f("uq_maintenances_ref")),
    )
    op.create_index(op.f("ix_maintenances_status"), "maintenances", ["status"])
    op.create_index("ix_maintenances_scheduled_for_id", "maintenances", ["scheduled_for", "id"])
    op.create_table(
        "maintenance_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("maintenance_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["maintenance_id"],
            ["maintenances.id"],
            name=op.f("fk_maintenance_updates_maintenance_id_maintenances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_updates")),
    )
    op.create_index(
        "ix_maintenance_updates_maintenance_id", "maintenance_updates", ["maintenance_id"]
    )


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_index("ix_maintenance_updates_maintenance_id", table_name="maintenance_updates")
    op.drop_table("maintenance_updates")
    op.drop_index("ix_maintenances_scheduled_for_id", table_name="maintenances")
    op.drop_index("ix_maintenances_status", table_name="maintenances")
    op.drop_table("maintenances")
