"""Migration 0002_metrics backfills incidents stored before it, so their metrics are right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command

from crashbot_core.metrics import compute
from crashbot_core.severity import DEFAULT_POLICY
from crashbot_core.store import IncidentFilter
from crashbot_sqlalchemy.engine import create_engine
from crashbot_sqlalchemy.migrate import alembic_config
from crashbot_sqlalchemy.store import SqlStore

# A Friday: the SEV4's next-business-day deadline is Monday 23:59:59.
STARTED = datetime(2026, 2, 27, 22, 30, 0, 250_000, tzinfo=UTC)
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def test_incidents_stored_before_the_migration_get_their_metrics_columns(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        # The fixture's database may already be at head (a migrated template):
        # bring it to the revision before 0002_metrics either way.
        command.upgrade(alembic_config(conn), "0002")
        command.downgrade(alembic_config(conn), "0002")
    old_incidents = sa.table(
        "incidents",
        *(
            sa.column(name)
            for name in [
                "id",
                "ref",
                "title",
                "description",
                "severity",
                "status",
                "public",
                "components",
                "roles",
                "labels",
                "started_at",
                "declared_at",
                "acknowledged_at",
                "mitigated_at",
                "resolved_at",
                "source",
                "refs",
                "version",
            ]
        ),
    )
    sqlite = engine.dialect.name == "sqlite"

    def at(value: datetime) -> object:
        return value.replace(tzinfo=None) if sqlite else value

    rows = [
        # SEV4, acknowledged Monday evening (in time), resolved late Monday.
        (1, "SEV4", STARTED + timedelta(days=3, hours=1), STARTED + timedelta(days=3, hours=2)),
        # SEV1 acknowledged after 7 minutes (late), never resolved.
        (2, "SEV1", STARTED + timedelta(minutes=7), None),
    ]
    with engine.begin() as conn:
        for ident, severity, acked, resolved in rows:
            conn.execute(
                sa.insert(old_incidents).values(
                    id=ident,
                    ref=f"INC-{ident}",
                    title="old",
                    description="",
                    severity=severity,
                    status="resolved" if resolved else "identified",
                    public=False,
                    components='{"api": "major_outage"}',
                    roles="{}",
                    labels="{}",
                    started_at=at(STARTED),
                    declared_at=at(STARTED),
                    acknowledged_at=at(acked),
                    mitigated_at=at(resolved) if resolved else None,
                    resolved_at=at(resolved) if resolved else None,
                    source="cli",
                    refs="{}",
                    version=1,
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO incident_components (incident_id, component) VALUES (:i, 'api')"
                ),
                {"i": ident},
            )
    engine.dispose()

    store = SqlStore.from_url(database_url)  # upgrades to head, backfilling
    try:
        for by in (None, "severity", "component"):
            sql = store.metrics(DEFAULT_POLICY, now=NOW, by=by)
            ref = compute(
                store.list_incidents(IncidentFilter(newest_first=False)),
                DEFAULT_POLICY,
                now=NOW,
                by=by,
            )
            assert sql.to_dict() == ref.to_dict()
        report = store.metrics(DEFAULT_POLICY, now=NOW, by="component")
        assert report.breaches["SEV1"].breached == 1
        assert report.breaches["SEV4"].breached == 0
        assert report.durations.mtta.count == 2
        assert report.groups["api"].durations.mttr.count == 1
        assert report.counts.by_period == {"2026-02": 2}
    finally:
        store.close()
