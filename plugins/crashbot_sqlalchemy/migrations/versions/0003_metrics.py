"""Metrics columns: durations, UTC month and next-business-day deadline per incident.

The SQL metrics (``crashbot_sqlalchemy.metrics``) read these instead of doing
date arithmetic on every row, and answer medians and p90 from the covering
indexes created here. Existing incidents are backfilled with the same
formulas the store uses on write.

Revision ID: 0002_metrics
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0002_metrics"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DURATIONS = ("tta_seconds", "ttm_seconds", "ttr_seconds")
_BATCH = 5000


def _aware(value: datetime | str | None) -> datetime | None:
    # SQLite hands back text or naive datetimes (UTC by convention).
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds())


def _next_business_day_end(started: datetime) -> datetime:
    day = started.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def upgrade() -> None:
    """Add the columns and indexes, then fill them for existing incidents."""
    with op.batch_alter_table("incidents") as batch:
        for name in _DURATIONS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
        batch.add_column(sa.Column("started_month", sa.String(length=7), nullable=True))
        batch.add_column(sa.Column("nbd_deadline", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("incident_components") as batch:
        batch.add_column(sa.Column("severity", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("started_month", sa.String(length=7), nullable=True))
        for name in _DURATIONS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))

    conn = op.get_bind()
    table = sa.table(
        "incidents",
        sa.column("id", sa.Integer()),
        sa.column("severity", sa.String()),
        sa.column("status", sa.String()),
        sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.column("mitigated_at", sa.DateTime(timezone=True)),
        sa.column("resolved_at", sa.DateTime(timezone=True)),
        *(sa.column(name, sa.Float()) for name in _DURATIONS),
        sa.column("started_month", sa.String()),
        sa.column("nbd_deadline", sa.DateTime(timezone=True)),
    )
    mirror = sa.table(
        "incident_components",
        sa.column("incident_id", sa.Integer()),
        sa.column("severity", sa.String()),
        sa.column("status", sa.String()),
        sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("started_month", sa.String()),
        *(sa.column(name, sa.Float()) for name in _DURATIONS),
    )
    sqlite = conn.dialect.name == "sqlite"
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                table.c.id,
                table.c.severity,
                table.c.status,
                table.c.started_at,
                table.c.acknowledged_at,
                table.c.mitigated_at,
                table.c.resolved_at,
            )
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            started = _aware(row.started_at)
            assert started is not None  # NOT NULL column
            deadline = _next_business_day_end(started)
            values = {
                "tta_seconds": _seconds(started, _aware(row.acknowledged_at)),
                "ttm_seconds": _seconds(started, _aware(row.mitigated_at)),
                "ttr_seconds": _seconds(started, _aware(row.resolved_at)),
                "started_month": started.strftime("%Y-%m"),
            }
            # SQLite keeps naive UTC text, as UTCDateTime writes it.
            conn.execute(
                sa.update(table)
                .where(table.c.id == row.id)
                .values(
                    **values,
                    nbd_deadline=deadline.replace(tzinfo=None) if sqlite else deadline,
                )
            )
            conn.execute(
                sa.update(mirror)
                .where(mirror.c.incident_id == row.id)
                .values(
                    **values,
                    severity=row.severity,
                    status=row.status,
                    started_at=started.replace(tzinfo=None) if sqlite else started,
                )
            )
        last = rows[-1].id

    op.create_index(
        "ix_incidents_metrics_counts",
        "incidents",
        [
            "severity",
            "started_month",
            "status",
            "started_at",
            *_DURATIONS,
            "acknowledged_at",
            "nbd_deadline",
        ],
    )
    for name in _DURATIONS:
        op.create_index(f"ix_incidents_{name}", "incidents", [name, "started_at", "severity"])
        op.create_index(
            f"ix_incidents_severity_{name}", "incidents", ["severity", name, "started_at"]
        )
        op.create_index(
            f"ix_incidents_month_{name}", "incidents", ["started_month", name, "started_at"]
        )

    op.create_index(
        "ix_incident_components_metrics_counts",
        "incident_components",
        ["component", "severity", "started_month", "status", "started_at", *_DURATIONS],
    )
    for name in _DURATIONS:
        op.create_index(
            f"ix_incident_components_{name}",
            "incident_components",
            ["component", name, "started_at"],
        )


def downgrade() -> None:
    """Drop the indexes and columns."""
    for name in _DURATIONS:
        op.drop_index(f"ix_incident_components_{name}", table_name="incident_components")
    op.drop_index("ix_incident_components_metrics_counts", table_name="incident_components")
    with op.batch_alter_table("incident_components") as batch:
        for name in reversed(_DURATIONS):
            batch.drop_column(name)
        batch.drop_column("started_month")
        batch.drop_column("started_at")
        batch.drop_column("status")
        batch.drop_column("severity")
    for name in _DURATIONS:
        op.drop_index(f"ix_incidents_month_{name}", table_name="incidents")
        op.drop_index(f"ix_incidents_severity_{name}", table_name="incidents")
        op.drop_index(f"ix_incidents_{name}", table_name="incidents")
    op.drop_index("ix_incidents_metrics_counts", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("nbd_deadline")
        batch.drop_column("started_month")
        for name in reversed(_DURATIONS):
            batch.drop_column(name)
