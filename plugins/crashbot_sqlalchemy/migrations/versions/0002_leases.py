"""Leases for deliveries and reminders (many workers, exactly once).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

``deliveries`` gets ``claimed_by``/``lease_until`` so the inline path and the
workers claim a row before calling a plugin, and an index for the
per-incident order check. ``reminders_sent`` gets ``claimed_by``,
``lease_until`` and ``sent_at``: a claim whose holder died before sending is
taken over once its lease runs out. Rows written before this revision were
sent at claim time (the old insert-then-send), so ``sent_at`` is set to ``at``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the lease columns and the order index; mark old reminders as sent."""
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("lease_until", _utc(), nullable=True))
    op.create_index(
        "ix_deliveries_incident_id_plugin_event_id",
        "deliveries",
        ["incident_id", "plugin", "event_id"],
    )
    with op.batch_alter_table("reminders_sent") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("lease_until", _utc(), nullable=True))
        batch.add_column(sa.Column("sent_at", _utc(), nullable=True))
    reminders = sa.table("reminders_sent", sa.column("at"), sa.column("sent_at"))
    op.execute(reminders.update().values(sent_at=reminders.c.at))


def downgrade() -> None:
    """Drop the lease columns and the order index."""
    with op.batch_alter_table("reminders_sent") as batch:
        batch.drop_column("sent_at")
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
    op.drop_index("ix_deliveries_incident_id_plugin_event_id", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
