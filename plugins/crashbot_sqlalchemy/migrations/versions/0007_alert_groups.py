"""Alert groups: the routing group and the sender's omitted count on each alert.

Revision ID: 0007_alert_groups
Revises: 0006_subscriptions
Create Date: 2026-12-05

``alerts`` gets ``group_id`` (the routing group, so a rule's ``threshold``
counts a group's occurrences in one indexed query) and ``omitted`` (how many
alerts the sender left out of the payload, Alertmanager's
``truncatedAlerts``), and an index on (incident_id, fingerprint) so what
each alert last said on its incident is found without scanning the
incident's alerts. Alerts stored before have no group (NULL) and omitted
nothing (0); a threshold counts only alerts received after the upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_alert_groups"
down_revision: str | None = "0006_subscriptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns and the (group, received) index."""
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("group_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("omitted", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_alerts_group_received", "alerts", ["group_id", "received_at"])
    op.create_index("ix_alerts_incident_fingerprint", "alerts", ["incident_id", "fingerprint"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_alerts_incident_fingerprint", table_name="alerts")
    op.drop_index("ix_alerts_group_received", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("omitted")
        batch.drop_column("group_id")
