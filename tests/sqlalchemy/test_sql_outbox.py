"""The delivery outbox, reminders' exactly-once claim, and alerts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest
import sqlalchemy as sa
from sqlstore_support import ALICE, T0, DeclareFn, new_incident
from support import BACKENDS

from crashbot_core.models import (
    Alert,
    AlertStatus,
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    Status,
)
from crashbot_core.store import Change
from crashbot_sqlalchemy.store import SqlStore


def test_commit_writes_one_pending_delivery_per_event_and_subscriber(
    store: SqlStore, declare: DeclareFn
) -> None:
    incident = declare(subscribers=("slack", "discord")).incident
    update = Event(kind=EventKind.UPDATE_POSTED, at=T0 + timedelta(minutes=1), actor=ALICE)
    saved = store.commit(
        Change(incident, expected_version=1, events=[update], subscribers=["slack", "discord"])
    )

    rows = store.deliveries()

    event_id = saved.events[0].id
    assert [(d.event_id, d.plugin) for d in rows] == [
        (event_id, "discord"),
        (event_id, "slack"),
        (1, "discord"),
        (1, "slack"),
    ]
    assert rows[0] == Delivery(
        event_id=event_id,
        incident_id=incident.id,
        plugin="discord",
        state=DeliveryState.PENDING,
        attempts=0,
        updated_at=update.at,
    )


def test_no_subscribers_means_no_deliveries(store: SqlStore, declare: DeclareFn) -> None:
    declare()

    assert store.deliveries() == []


def test_deliveries_lists_newest_first_within_limit(store: SqlStore, declare: DeclareFn) -> None:
    for _ in range(3):
        declare(subscribers=("slack",))

    assert [d.event_id for d in store.deliveries(limit=2)] == [3, 2]


def _alert(fingerprint: str = "abc", **changes: object) -> Alert:
    fields: dict[str, object] = {
        "source": "alertmanager",
        "fingerprint": fingerprint,
        "status": AlertStatus.FIRING,
        "title": "HighErrorRate",
        "severity": "critical",
        "labels": {"service": "api"},
        "started_at": T0,
        "url": "https://grafana/alert/1",
        "description": "5xx above 5%",
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def test_record_alert_stores_it_with_its_raw_body(store: SqlStore) -> None:
    received = T0 + timedelta(seconds=3)

    alert = store.record_alert(_alert(), b'{"status": "firing"}', received)

    assert (alert.id, alert.received_at, alert.incident_id) == (1, received, None)
    assert store.alert_raw(alert.id) == b'{"status": "firing"}'


def test_alerts_attach_to_an_incident_in_its_commit(store: SqlStore) -> None:
    first = store.record_alert(_alert(), None, T0)
    second = store.record_alert(_alert(status=AlertStatus.RESOLVED), None, T0 + timedelta(1))
    other = store.record_alert(_alert("zzz"), None, T0)

    saved = store.commit(
        Change(new_incident(), expected_version=None, alert_ids=[first.id, second.id])
    )

    incident_id = saved.incident.id
    attached = store.alerts(incident_id)
    assert attached == [
        attrs.evolve(first, incident_id=incident_id),
        attrs.evolve(second, incident_id=incident_id),
    ]
    assert store.open_incident_for_alert("alertmanager", "abc") == incident_id
    assert store.open_incident_for_alert("alertmanager", other.fingerprint) is None
    assert store.open_incident_for_alert("grafana", "abc") is None


def test_record_alerts_stores_a_batch_field_for_field_in_order(store: SqlStore) -> None:
    incident = store.commit(Change(new_incident(), expected_version=None)).incident
    paris = timezone(timedelta(hours=2))
    batch = [
        (_alert("a", labels={"ville": "Zürich", "quote": 'say "hi"\\'}), b"\xff\x00 not utf-8"),
        (
            _alert(
                "b",
                status=AlertStatus.RESOLVED,
                severity=None,
                url=None,
                started_at=datetime(2024, 5, 1, 14, 0, tzinfo=paris),
                incident_id=incident.id,
                group_id="g" * 40,
                omitted=3,
            ),
            None,
        ),
        (_alert("a", description="line 1\nline 2\ttab", incident_id=incident.id), b""),
    ]

    stored = store.record_alerts(batch, T0)

    assert [a.fingerprint for a in stored] == ["a", "b", "a"]
    assert stored[0].id < stored[1].id < stored[2].id
    assert [store.alert_raw(a.id) for a in stored] == [b"\xff\x00 not utf-8", None, b""]
    store.link_alerts({incident.id: [stored[0].id]})
    assert store.alerts(incident.id) == [
        attrs.evolve(stored[0], incident_id=incident.id),
        stored[1],
        stored[2],
    ]
    assert stored[1].started_at == T0


# SQLite does not enforce VARCHAR lengths: PostgreSQL only.
@pytest.mark.parametrize("db_url", [BACKENDS[1]], indirect=True)
def test_record_alerts_stores_none_of_a_batch_holding_a_value_too_long(store: SqlStore) -> None:
    batch = [(_alert("a"), None), (_alert("b", group_id="g" * 41), None)]

    # Refused, not cut to the column's 40 characters.
    with pytest.raises(sa.exc.DataError, match="too long"):
        store.record_alerts(batch, T0)

    assert store.alert_summary(0).received == 0
    assert store.record_alerts([(_alert("c"), None)], T0)[0].fingerprint == "c"


def test_resolved_incidents_no_longer_catch_their_alerts(store: SqlStore) -> None:
    alert = store.record_alert(_alert(), None, T0)
    incident = store.commit(
        Change(new_incident(), expected_version=None, alert_ids=[alert.id])
    ).incident

    store.commit(Change(incident.with_changes(status=Status.RESOLVED), expected_version=1))

    assert store.open_incident_for_alert("alertmanager", "abc") is None
