"""Status-page subscribers and the queue of mails and webhook calls sent to them.

Revision ID: 0006_subscriptions
Revises: 0005_maintenance
Create Date: 2026-12-12

``subscribers`` holds e-mail and webhook subscribers with their consent and
confirmation times; ``subscriber_messages`` holds one row per (subscriber,
update) or confirmation request, whose unique key makes each send happen once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_subscriptions"
down_revision: str | None = "0005_maintenance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "subscribers",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("address", sa.String(2048), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("consent_at", _utc(), nullable=False),
        sa.Column("confirmed_at", _utc(), nullable=True),
        sa.Column("unsubscribed_at", _utc(), nullable=True),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("address", name="uq_subscribers_address"),
    )
    op.create_table(
        "subscriber_messages",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("subscriber_id", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(2048), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("lease_until", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_subscriber_messages_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name="pk_subscriber_messages"),
    )
    op.create_index(
        "ix_subscriber_messages_subscriber_id", "subscriber_messages", ["subscriber_id"]
    )
    op.create_index(
        "ix_subscriber_messages_state_next_attempt_at",
        "subscriber_messages",
        ["state", "next_attempt_at"],
    )


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_index("ix_subscriber_messages_state_next_attempt_at", "subscriber_messages")
    op.drop_index("ix_subscriber_messages_subscriber_id", "subscriber_messages")
    op.drop_table("subscriber_messages")
    op.drop_table("subscribers")
