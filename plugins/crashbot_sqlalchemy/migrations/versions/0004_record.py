"""The incident record: detection time, how an incident ended, token bookkeeping.

Revision ID: 0004_record
Revises: 0002_metrics
Create Date: 2026-12-05

``incidents`` gets ``detected_at`` (when the problem was noticed; NULL reads as
the declare time), ``resolution`` (``resolved``, ``invalid`` or ``duplicate``
once closed) and ``duplicate_of``. Incidents already resolved are backfilled as
``resolved``; alert-declared incidents get their first alert's start as
``detected_at``. ``api_tokens`` gets ``last_used_at`` and ``revoked_at``.

For the metrics: ``ttd_seconds`` (MTTD, ``detected - started``) on incidents
and their component rows, in the covering indexes of ``0002_metrics``; and
``incident_engagements`` (who engaged on each incident since when, for the
estimated cost), backfilled from the timelines with the formulas of
``crashbot_core.cost`` and ``crashbot_sqlalchemy.metrics``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004_record"
down_revision: str | None = "0002_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_DURATIONS = ("tta_seconds", "ttm_seconds", "ttr_seconds")
_BATCH = 5000
_MACHINES = ("system", "alert")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _aware(value: datetime | str | None) -> datetime | None:
    # SQLite hands back text or naive datetimes (UTC by convention).
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _metrics_columns() -> None:
    """ttd_seconds on incidents and their component rows, backfilled; the indexes rebuilt."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("ttd_seconds", sa.Float(), nullable=True))
    with op.batch_alter_table("incident_components") as batch:
        batch.add_column(sa.Column("ttd_seconds", sa.Float(), nullable=True))
    conn = op.get_bind()
    table = sa.table(
        "incidents",
        sa.column("id", sa.Integer()),
        sa.column("started_at", _utc()),
        sa.column("declared_at", _utc()),
        sa.column("detected_at", _utc()),
        sa.column("ttd_seconds", sa.Float()),
    )
    mirror = sa.table(
        "incident_components",
        sa.column("incident_id", sa.Integer()),
        sa.column("ttd_seconds", sa.Float()),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.started_at, table.c.declared_at, table.c.detected_at)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            started = _aware(row.started_at)
            detected = _aware(row.detected_at) or _aware(row.declared_at)
            assert started is not None and detected is not None  # NOT NULL columns
            ttd = max(0.0, (detected - started).total_seconds())
            conn.execute(sa.update(table).where(table.c.id == row.id).values(ttd_seconds=ttd))
            conn.execute(
                sa.update(mirror).where(mirror.c.incident_id == row.id).values(ttd_seconds=ttd)
            )
        last = rows[-1].id

    op.drop_index("ix_incidents_metrics_counts", table_name="incidents")
    op.create_index(
        "ix_incidents_metrics_counts",
        "incidents",
        [
            "severity",
            "started_month",
            "status",
            "started_at",
            *_DURATIONS,
            "ttd_seconds",
            "acknowledged_at",
            "nbd_deadline",
        ],
    )
    op.create_index(
        "ix_incidents_ttd_seconds", "incidents", ["ttd_seconds", "started_at", "severity"]
    )
    op.create_index(
        "ix_incidents_severity_ttd_seconds", "incidents", ["severity", "ttd_seconds", "started_at"]
    )
    op.create_index(
        "ix_incidents_month_ttd_seconds",
        "incidents",
        ["started_month", "ttd_seconds", "started_at"],
    )
    op.drop_index("ix_incident_components_metrics_counts", table_name="incident_components")
    op.create_index(
        "ix_incident_components_metrics_counts",
        "incident_components",
        [
            "component",
            "severity",
            "started_month",
            "status",
            "started_at",
            *_DURATIONS,
            "ttd_seconds",
        ],
    )
    op.create_index(
        "ix_incident_components_ttd_seconds",
        "incident_components",
        ["component", "ttd_seconds", "started_at"],
    )


def _engagements(events: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """crashbot_core.cost.engagements, frozen here: person -> name, since, role."""
    found: dict[str, dict[str, Any]] = {}

    def engage(actor: Mapping[str, Any] | None, at: datetime, role: str | None) -> None:
        if not actor or actor.get("platform") in _MACHINES or not actor.get("id"):
            return
        key = f"{actor.get('platform', '')}:{actor['id']}"
        name = str(actor.get("name") or actor["id"])
        seen = found.get(key)
        if seen is None:
            found[key] = {"name": name, "since": at, "role": role}
        else:
            seen.update(name=name, since=min(seen["since"], at))
            if role is not None:
                seen["role"] = role

    for event in events:
        at = _aware(event.at)
        assert at is not None
        engage(event.actor, at, None)
        data = event.data or {}
        if event.kind == "role_assigned" and isinstance(data.get("role"), str):
            engage(data.get("user"), at, data["role"])
    return found


def _engagement_table(sqlite: bool) -> None:
    """incident_engagements, filled from every timeline."""
    op.create_table(
        "incident_engagements",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=255), nullable=False),
        sa.Column("engaged_from", _utc(), nullable=False),
        sa.Column("engaged_seconds", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("started_month", sa.String(length=7), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_engagements_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "person", name=op.f("pk_incident_engagements")),
    )
    conn = op.get_bind()
    incidents = sa.table(
        "incidents",
        sa.column("id", sa.Integer()),
        sa.column("severity", sa.String()),
        sa.column("status", sa.String()),
        sa.column("started_at", _utc()),
        sa.column("resolved_at", _utc()),
        sa.column("started_month", sa.String()),
    )
    events = sa.table(
        "events",
        sa.column("id", sa.Integer()),
        sa.column("incident_id", sa.Integer()),
        sa.column("at", _utc()),
        sa.column("kind", sa.String()),
        sa.column("actor", sa.JSON()),
        sa.column("data", sa.JSON()),
    )
    target = sa.table(
        "incident_engagements",
        *(
            sa.column(name)
            for name in (
                "incident_id",
                "person",
                "name",
                "role",
                "engaged_from",
                "engaged_seconds",
                "severity",
                "started_at",
                "started_month",
            )
        ),
    )

    def stored(value: datetime) -> datetime:
        return value.replace(tzinfo=None) if sqlite else value

    last = 0
    while True:
        batch = conn.execute(
            sa.select(incidents).where(incidents.c.id > last).order_by(incidents.c.id).limit(_BATCH)
        ).all()
        if not batch:
            break
        timelines: dict[int, list[Any]] = {}
        for event in conn.execute(
            sa.select(events)
            .where(events.c.incident_id > last, events.c.incident_id <= batch[-1].id)
            .order_by(events.c.incident_id, events.c.id)
        ):
            timelines.setdefault(event.incident_id, []).append(event)
        rows = []
        for inc in batch:
            started = _aware(inc.started_at)
            resolved = _aware(inc.resolved_at)
            assert started is not None
            end = resolved if inc.status == "resolved" else None
            for person, e in _engagements(timelines.get(inc.id, [])).items():
                rows.append(
                    {
                        "incident_id": inc.id,
                        "person": person,
                        "name": e["name"],
                        "role": e["role"] or "",
                        "engaged_from": stored(e["since"]),
                        "engaged_seconds": None
                        if end is None
                        else max(0.0, (end - e["since"]).total_seconds()),
                        "severity": inc.severity,
                        "started_at": stored(started),
                        "started_month": inc.started_month,
                    }
                )
        if rows:
            conn.execute(sa.insert(target), rows)
        last = batch[-1].id
    op.create_index(
        "ix_incident_engagements_cost",
        "incident_engagements",
        ["severity", "role", "started_month", "started_at", "engaged_seconds"],
    )
    op.create_index(
        "ix_incident_engagements_open", "incident_engagements", ["engaged_seconds", "started_at"]
    )


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
    sqlite = op.get_bind().dialect.name == "sqlite"
    _metrics_columns()
    _engagement_table(sqlite)
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", _utc(), nullable=True))
        batch.add_column(sa.Column("revoked_at", _utc(), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("last_used_at")
    op.drop_index("ix_incident_engagements_open", table_name="incident_engagements")
    op.drop_index("ix_incident_engagements_cost", table_name="incident_engagements")
    op.drop_table("incident_engagements")
    op.drop_index("ix_incident_components_ttd_seconds", table_name="incident_components")
    op.drop_index("ix_incident_components_metrics_counts", table_name="incident_components")
    op.create_index(
        "ix_incident_components_metrics_counts",
        "incident_components",
        ["component", "severity", "started_month", "status", "started_at", *_DURATIONS],
    )
    with op.batch_alter_table("incident_components") as batch:
        batch.drop_column("ttd_seconds")
    for name in ("month_", "severity_", ""):
        op.drop_index(f"ix_incidents_{name}ttd_seconds", table_name="incidents")
    op.drop_index("ix_incidents_metrics_counts", table_name="incidents")
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
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("ttd_seconds")
    op.drop_index("ix_incidents_resolution", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("duplicate_of")
        batch.drop_column("resolution")
        batch.drop_column("detected_at")
