"""The tables, as SQLAlchemy Core metadata.

The domain classes are frozen attrs objects, so nothing is mapped onto them:
:mod:`crashbot_sqlalchemy.store` translates rows to models and back. The
Alembic migrations create exactly these tables; a test holds the two equal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

#: Alembic's version table. Not the default ``alembic_version``, so crashbot can
#: share a database with an application that runs its own Alembic history.
VERSION_TABLE = "crashbot_alembic_version"

# Deterministic constraint names: PostgreSQL needs names to drop or alter a
# constraint in a later migration, and SQLite batch migrations need them too.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps the offset (``timestamp with time zone``). SQLite has no
    datetime type and SQLAlchemy stores naive text there, so values are
    normalised to UTC before the offset is dropped and UTC is re-attached on
    the way out. Naive values are refused: a naive datetime in the domain is
    a bug, and guessing its zone would silently shift the timeline.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Plain DATETIME on SQLite (which cannot keep an offset), timestamptz elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.DateTime())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC; strip the offset only where the column cannot keep it."""
        if value is None:
            return None
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(f"naive datetime {value!r}: crashbot stores timezone-aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the backend handed back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Short strings hold enum values and keys; Text holds what people type.
_KEY = sa.String(255)
_ENUM = sa.String(32)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Nullable only for the instant between INSERT and the UPDATE that sets it
    # from the database-assigned id, inside one transaction.
    sa.Column("ref", sa.String(64), nullable=True, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("severity", _ENUM, nullable=False, index=True),
    sa.Column("status", _ENUM, nullable=False, index=True),
    sa.Column("public", sa.Boolean, nullable=False, index=True),
    sa.Column("components", sa.JSON, nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False, index=True),
    sa.Column("declared_at", UTCDateTime, nullable=False),
    sa.Column("acknowledged_at", UTCDateTime, nullable=True),
    sa.Column("mitigated_at", UTCDateTime, nullable=True),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("last_update_at", UTCDateTime, nullable=True),
    sa.Column("rca_url", sa.Text, nullable=True),
    sa.Column("source", sa.String(128), nullable=False, index=True),
    sa.Column("refs", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("declared_by", sa.JSON, nullable=True),
    # Migration 0004_record: detection time, how it ended, what it duplicates.
    sa.Column("detected_at", UTCDateTime, nullable=True),
    sa.Column("resolution", _ENUM, nullable=True, index=True),
    sa.Column("duplicate_of", sa.Integer, nullable=True),
)

# The status site asks "public incidents, newest first" on every render.
sa.Index("ix_incidents_public_started_at", incidents.c.public, incidents.c.started_at)

# Metrics columns (migration 0002_metrics), derived from the incident on every
# write by crashbot_sqlalchemy.metrics.derived_columns: durations in seconds as
# the reference computes them, the UTC month, and the "next business day"
# response deadline. With them, crashbot_sqlalchemy.metrics answers from
# covering indexes (medians and p90 are an index seek + OFFSET, counts one
# index-only scan) instead of date arithmetic and sorts over every row.
# Migration 0004_record adds ttd_seconds (MTTD) and leaves every metrics column
# NULL on incidents closed as invalid or duplicate: metrics require
# started_month, so those drop out of every index walk with no extra column.
_DURATIONS = ("tta_seconds", "ttm_seconds", "ttr_seconds", "ttd_seconds")
for _name in _DURATIONS[:3]:
    incidents.append_column(sa.Column(_name, sa.Float, nullable=True))
incidents.append_column(sa.Column("started_month", sa.String(7), nullable=True))
incidents.append_column(sa.Column("nbd_deadline", UTCDateTime, nullable=True))
incidents.append_column(sa.Column("ttd_seconds", sa.Float, nullable=True))
sa.Index(
    "ix_incidents_metrics_counts",
    incidents.c.severity,
    incidents.c.started_month,
    incidents.c.status,
    incidents.c.started_at,
    incidents.c.tta_seconds,
    incidents.c.ttm_seconds,
    incidents.c.ttr_seconds,
    incidents.c.ttd_seconds,
    incidents.c.acknowledged_at,
    incidents.c.nbd_deadline,
)
for _name in _DURATIONS:
    _col = incidents.c[_name]
    sa.Index(f"ix_incidents_{_name}", _col, incidents.c.started_at, incidents.c.severity)
    sa.Index(f"ix_incidents_severity_{_name}", incidents.c.severity, _col, incidents.c.started_at)
    sa.Index(f"ix_incidents_month_{_name}", incidents.c.started_month, _col, incidents.c.started_at)

# Components and labels live in JSON on the incident (the source of truth) and
# are mirrored here so the list filters are plain indexed SQL on every backend
# instead of dialect-specific JSON operators.
incident_components = sa.Table(
    "incident_components",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("component", _KEY, primary_key=True, index=True),
)

incident_labels = sa.Table(
    "incident_labels",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", _KEY, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
sa.Index("ix_incident_labels_key_value", incident_labels.c.key, incident_labels.c.value)

# The incident's metrics fields mirrored on each component row (migration
# 0002_metrics), so per-component metrics read one covering index instead of
# joining a million incidents.
incident_components.append_column(sa.Column("severity", _ENUM, nullable=True))
incident_components.append_column(sa.Column("status", _ENUM, nullable=True))
incident_components.append_column(sa.Column("started_at", UTCDateTime, nullable=True))
incident_components.append_column(sa.Column("started_month", sa.String(7), nullable=True))
for _name in _DURATIONS:
    incident_components.append_column(sa.Column(_name, sa.Float, nullable=True))
sa.Index(
    "ix_incident_components_metrics_counts",
    *(
        incident_components.c[_name]
        for _name in (
            "component",
            "severity",
            "started_month",
            "status",
            "started_at",
            "tta_seconds",
            "ttm_seconds",
            "ttr_seconds",
            "ttd_seconds",
        )
    ),
)
for _name in _DURATIONS:
    sa.Index(
        f"ix_incident_components_{_name}",
        incident_components.c.component,
        incident_components.c[_name],
        incident_components.c.started_at,
    )

# Who engaged on each incident and since when (migration 0004_record), kept
# by the store from the timeline with crashbot_core.cost.engagements, so the
# metrics' cost is a GROUP BY here instead of a read of every timeline. The
# incident's severity, start and month are mirrored for the selection, as on
# incident_components (started_month NULL: the incident does not count).
incident_engagements = sa.Table(
    "incident_engagements",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # platform:id
    sa.Column("person", _KEY, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # The role assigned to them last; "" for none.
    sa.Column("role", _KEY, nullable=False),
    sa.Column("engaged_from", UTCDateTime, nullable=False),
    # To the resolve; NULL while the incident is open (engaged up to now).
    sa.Column("engaged_seconds", sa.Float, nullable=True),
    sa.Column("severity", _ENUM, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("started_month", sa.String(7), nullable=True),
)
sa.Index(
    "ix_incident_engagements_cost",
    incident_engagements.c.severity,
    incident_engagements.c.role,
    incident_engagements.c.started_month,
    incident_engagements.c.started_at,
    incident_engagements.c.engaged_seconds,
)
sa.Index(
    "ix_incident_engagements_open",
    incident_engagements.c.engaged_seconds,
    incident_engagements.c.started_at,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.JSON, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("public", sa.Boolean, nullable=False),
)

follow_ups = sa.Table(
    "follow_ups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("owner", sa.JSON, nullable=True),
    sa.Column("due", sa.Date, nullable=True),
    sa.Column("done", sa.Boolean, nullable=False),
    sa.Column("done_at", UTCDateTime, nullable=True),
    sa.Column("url", sa.Text, nullable=True),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("fingerprint", _KEY, nullable=False),
    sa.Column("status", _ENUM, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("severity", sa.String(64), nullable=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("url", sa.Text, nullable=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column("received_at", UTCDateTime, nullable=False),
    # The request body as received, for debugging a vendor's payload; the
    # caller bounds its size before it gets here.
    sa.Column("raw", sa.LargeBinary, nullable=True),
    # The routing group (crashbot_core.routing.group_id): thresholds count by it.
    sa.Column("group_id", sa.String(40), nullable=True),
    # Alerts the sender left out of the payload (Alertmanager's truncatedAlerts).
    sa.Column("omitted", sa.Integer, nullable=False, server_default="0"),
)
sa.Index("ix_alerts_source_fingerprint", alerts.c.source, alerts.c.fingerprint)
sa.Index("ix_alerts_group_received", alerts.c.group_id, alerts.c.received_at)
# What each alert last said on its incident (grouping): flat however many alerts it has.
sa.Index("ix_alerts_incident_fingerprint", alerts.c.incident_id, alerts.c.fingerprint)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column(
        "event_id",
        sa.Integer,
        sa.ForeignKey("events.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("plugin", sa.String(128), primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("state", _ENUM, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    # The lease (migration 0002): whoever is calling the plugin right now, and
    # until when. The inline path and every worker claim a row before calling
    # the plugin, so an event is never handed to two of them at once; an
    # expired lease (its holder died) is taken over by the next worker.
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
)
# The worker polls "pending or failed, due now" every few seconds.
sa.Index("ix_deliveries_state_next_attempt_at", deliveries.c.state, deliveries.c.next_attempt_at)
# Per-incident order: "is an earlier event of this incident still undelivered
# to this plugin?" is asked for every claim.
sa.Index(
    "ix_deliveries_incident_id_plugin_event_id",
    deliveries.c.incident_id,
    deliveries.c.plugin,
    deliveries.c.event_id,
)

reminders_sent = sa.Table(
    "reminders_sent",
    metadata,
    # One row per reminder occurrence. The primary key makes the first claim
    # of a key win across threads, processes and replicas; the lease columns
    # (migration 0002) let another worker take over a claim whose holder died
    # before sending (``sent_at`` still NULL after ``lease_until``).
    sa.Column("key", _KEY, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    #: When the occurrence was first claimed.
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    #: When the reminder was delivered; NULL while a worker holds the claim.
    sa.Column("sent_at", UTCDateTime, nullable=True),
)

components = sa.Table(
    "components",
    metadata,
    sa.Column("key", _KEY, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # "group" is an SQL keyword; a plain column name spares every hand-written query.
    sa.Column("group_name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", _KEY, nullable=False, unique=True),
    sa.Column("token_hash", _KEY, nullable=False, unique=True),
    sa.Column("scope", _ENUM, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Migration 0004_record.
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

# Scheduled maintenance (migration 0005_maintenance): not incidents, so their
# own tables, out of every metrics query.
maintenances = sa.Table(
    "maintenances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Nullable only between the INSERT and the UPDATE that sets it from the id.
    sa.Column("ref", sa.String(64), nullable=True, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("scheduled_for", UTCDateTime, nullable=False),
    sa.Column("scheduled_until", UTCDateTime, nullable=False),
    sa.Column("status", _ENUM, nullable=False, index=True),
    sa.Column("components", sa.JSON, nullable=False),
    sa.Column("auto", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.JSON, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("completed_at", UTCDateTime, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
)
sa.Index("ix_maintenances_scheduled_for_id", maintenances.c.scheduled_for, maintenances.c.id)

maintenance_updates = sa.Table(
    "maintenance_updates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "maintenance_id",
        sa.Integer,
        sa.ForeignKey("maintenances.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("status", _ENUM, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("actor", sa.JSON, nullable=True),
)

# One row (id = 1) whose counter is bumped by every write the status site can
# show, so change_token() is a single primary-key read.
store_state = sa.Table(
    "store_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("change_counter", sa.BigInteger, nullable=False),
)

#: The id of the single ``store_state`` row.
STATE_ROW_ID = 1

# Migration 0006_subscriptions: status-page subscribers and what is sent to them.
subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", _KEY, primary_key=True),
    sa.Column("kind", _ENUM, nullable=False),
    # E-mail address or webhook URL; one subscription per address.
    sa.Column("address", sa.String(2048), nullable=False, unique=True),
    sa.Column("components", sa.JSON, nullable=False),
    sa.Column("consent_at", UTCDateTime, nullable=False),
    sa.Column("confirmed_at", UTCDateTime, nullable=True),
    sa.Column("unsubscribed_at", UTCDateTime, nullable=True),
    sa.Column("secret", _KEY, nullable=False),
)

subscriber_messages = sa.Table(
    "subscriber_messages",
    metadata,
    # (subscriber, update) or (subscriber, confirmation request): unique, so a
    # retried fan-out queues nothing twice and each update is mailed once.
    sa.Column("key", _KEY, primary_key=True),
    sa.Column(
        "subscriber_id",
        _KEY,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    sa.Column("kind", _ENUM, nullable=False),
    sa.Column("recipient", sa.String(2048), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=True),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("state", _ENUM, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
)
sa.Index(
    "ix_subscriber_messages_state_next_attempt_at",
    subscriber_messages.c.state,
    subscriber_messages.c.next_attempt_at,
)

# Migration 0008_rate_limits: attempts per (key, fixed window), shared by every
# process and replica; rows of ended windows are deleted as new keys arrive.
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    # An HMAC of what is limited (the client address), never the address itself.
    sa.Column("key", _KEY, primary_key=True),
    # Both ends: windows of different lengths may share a start or an end.
    sa.Column("window_start", UTCDateTime, primary_key=True),
    sa.Column("window_end", UTCDateTime, primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False),
)
sa.Index("ix_rate_limits_window_end", rate_limits.c.window_end)
