"""The incident record: detection time, how an incident ended, token bookkeeping.

Revision ID: 0004_record
Revises: 0002_metrics
Create Date: 2026-12-05

``incidents`` gets ``detected_at`` (when the problem was noticed; NULL reads as
the declare time), ``resolution`` (``resolved``, ``invalid`` or ``duplicate``
once closed) and ``duplicate_of``. Incidents already resolved are backfilled as
``resolved``; alert-declared incidents get their first alert's start as
``detected_at``. ``api_tokens`` gets ``last_used_at`` and ``revoked_at``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_record"
down_revision: str | None = "0002_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the columns and backfill them from what is stored."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("detected_at", _utc(), nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("duplicate_of", sa.Integer(), nullable=True))
    op.create_index("ix_incidents_resolution", "incidents", ["resolution"])
    incidents = sa.table(
        "incidents",
        sa.column("id"),
        sa.column("status"),
        sa.column("source"),
        sa.column("resolution"),
        sa.column("detected_at"),
    )
    alerts = sa.table("alerts", sa.column("incident_id"), sa.column("started_at"))
    op.execute(
        incidents.update().where(incidents.c.status == "resolved").values(resolution="resolved")
    )
    first_alert = (
        sa.select(sa.func.min(alerts.c.started_at))
        .where(alerts.c.incident_id == incidents.c.id)
        .scalar_subquery()
    )
    op.execute(
        incidents.update().where(incidents.c.source.like("alert:%")).values(detected_at=first_alert)
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", _utc(), nullable=True))
        batch.add_column(sa.Column("revoked_at", _utc(), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("last_used_at")
    op.drop_index("ix_incidents_resolution", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("duplicate_of")
        batch.drop_column("resolution")
        batch.drop_column("detected_at")
