"""Incidents, events and follow-ups through SqlStore.commit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlstore_support import ALICE, BOB, T0, DeclareFn, new_incident

from crashbot_core.errors import ConflictError, NotFound
from crashbot_core.models import (
    Event,
    EventKind,
    FollowUp,
    Impact,
    Status,
)
from crashbot_core.store import Change
from crashbot_sqlalchemy.store import SqlStore


def test_declare_assigns_sequential_ids_and_refs(declare: DeclareFn) -> None:
    saved = [declare(title=f"incident {n}") for n in range(3)]

    assert [s.incident.id for s in saved] == [1, 2, 3]
    assert [s.incident.ref for s in saved] == ["INC-1", "INC-2", "INC-3"]
    assert all(s.incident.version == 1 for s in saved)


def test_declare_uses_the_configured_ref_prefix(store: SqlStore) -> None:
    saved = store.commit(Change(new_incident(), expected_version=None, ref_prefix="OPS"))

    assert saved.incident.ref == "OPS-1"
    stored = store.get_incident(saved.incident.id)
    assert stored is not None
    assert stored.ref == "OPS-1"


def test_every_incident_field_round_trips(store: SqlStore) -> None:
    later = T0 + timedelta(minutes=5)
    incident = new_incident(
        description="Payments fail with 502",
        public=True,
        components={"api": Impact.MAJOR_OUTAGE, "web": Impact.DEGRADED_PERFORMANCE},
        roles={"commander": ALICE, "scribe": BOB},
        labels={"team": "payments", "region": "eu"},
        started_at=T0 - timedelta(minutes=10),
        acknowledged_at=later,
        mitigated_at=later,
        resolved_at=later,
        last_update_at=later,
        status=Status.RESOLVED,
        rca_url="https://example.com/rca/1",
        source="alert:grafana",
        refs={"slack.channel": "C123", "slack.digest_ts": "1700000000.0001"},
        declared_by=BOB,
    )
    saved = store.commit(Change(incident, expected_version=None)).incident

    stored = store.get_incident(saved.id)

    assert stored == attrs.evolve(incident, id=1, ref="INC-1", version=1)
    assert stored is not None
    assert stored.started_at.tzinfo is UTC


def test_get_incident_returns_none_for_unknown_id(store: SqlStore) -> None:
    assert store.get_incident(99) is None


def test_update_writes_the_next_version(store: SqlStore, declare: DeclareFn) -> None:
    first = declare().incident
    changed = first.with_changes(status=Status.IDENTIFIED, labels={"team": "core"})

    saved = store.commit(Change(changed, expected_version=1)).incident

    assert saved.version == 2
    assert store.get_incident(first.id) == attrs.evolve(changed, version=2)


def test_version_conflict_raises_and_writes_nothing(store: SqlStore, declare: DeclareFn) -> None:
    incident = declare().incident
    store.commit(Change(incident.with_changes(title="first writer"), expected_version=1))
    token = store.change_token()
    stale = Change(
        incident.with_changes(title="second writer", components={"api": Impact.MAJOR_OUTAGE}),
        expected_version=1,
        events=[Event(kind=EventKind.UPDATE_POSTED, at=T0, actor=BOB, data={"message": "x"})],
        follow_ups=[FollowUp(incident_id=incident.id, title="lost", created_at=T0)],
        subscribers=["slack"],
    )

    with pytest.raises(ConflictError, match=r"incident INC-1 changed while this command ran"):
        store.commit(stale)

    stored = store.get_incident(incident.id)
    assert stored is not None
    assert (stored.title, stored.version, stored.components) == ("first writer", 2, {})
    assert [e.kind for e in store.events(incident.id)] == [EventKind.DECLARED]
    assert store.follow_ups(incident.id) == []
    assert store.deliveries() == []
    assert store.change_token() == token


def test_commit_for_a_missing_incident_raises_not_found(store: SqlStore) -> None:
    ghost = new_incident(id=7, ref="INC-7", version=3)

    with pytest.raises(NotFound, match="7"):
        store.commit(Change(ghost, expected_version=3))


def test_events_round_trip_with_utc_datetimes_and_json_data(
    store: SqlStore, declare: DeclareFn
) -> None:
    incident = declare().incident
    cest = timezone(timedelta(hours=2))
    data: dict[str, Any] = {
        "message": "Rolled back — 🚀 fixed",
        "from": "investigating",
        "nested": {"list": [1, 2.5, None, True], "empty": {}},
    }
    update = Event(
        kind=EventKind.UPDATE_POSTED,
        at=datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=cest),
        actor=BOB,
        data=data,
        public=True,
    )

    saved = store.commit(
        Change(incident.with_changes(last_update_at=update.at), expected_version=1, events=[update])
    )

    timeline = store.events(incident.id)
    assert [e.kind for e in timeline] == [EventKind.DECLARED, EventKind.UPDATE_POSTED]
    stored = timeline[1]
    assert stored == attrs.evolve(update, id=saved.events[0].id, incident_id=incident.id)
    assert stored.at.tzinfo is UTC
    assert stored.at == datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert store.get_event(stored.id) == stored
    last_update = store.get_incident(incident.id)
    assert last_update is not None
    assert last_update.last_update_at == update.at
    assert last_update.last_update_at is not None
    assert last_update.last_update_at.tzinfo is UTC


def test_events_are_ordered_by_time_then_insertion(store: SqlStore, declare: DeclareFn) -> None:
    incident = declare(declared_at=T0 + timedelta(minutes=1)).incident
    backdated = Event(kind=EventKind.ALERT_ATTACHED, at=T0, actor=ALICE)
    same_time = [
        Event(kind=EventKind.STATUS_CHANGED, at=T0 + timedelta(minutes=2), actor=ALICE),
        Event(kind=EventKind.UPDATE_POSTED, at=T0 + timedelta(minutes=2), actor=ALICE),
    ]
    store.commit(Change(incident, expected_version=1, events=[backdated, *same_time]))

    kinds = [e.kind for e in store.events(incident.id)]

    assert kinds == [
        EventKind.ALERT_ATTACHED,
        EventKind.DECLARED,
        EventKind.STATUS_CHANGED,
        EventKind.UPDATE_POSTED,
    ]


def test_public_only_hides_internal_events(store: SqlStore, declare: DeclareFn) -> None:
    incident = declare().incident
    internal = Event(kind=EventKind.UPDATE_POSTED, at=T0, actor=ALICE, data={"message": "db?"})
    store.commit(Change(incident, expected_version=1, events=[internal]))

    public = store.events(incident.id, public_only=True)

    assert [e.kind for e in public] == [EventKind.DECLARED]
    assert store.get_event(999) is None


def test_follow_ups_are_inserted_then_updated(store: SqlStore, declare: DeclareFn) -> None:
    incident = declare().incident
    added = store.commit(
        Change(
            incident,
            expected_version=1,
            follow_ups=[
                FollowUp(incident_id=incident.id, title="Add alerting", created_at=T0, owner=BOB),
                FollowUp(
                    incident_id=incident.id,
                    title="Runbook",
                    created_at=T0 + timedelta(seconds=1),
                    due=date(2024, 6, 1),
                ),
            ],
        )
    ).follow_ups
    done = attrs.evolve(
        added[0], done=True, done_at=T0 + timedelta(days=1), url="https://gh/x/issues/1"
    )

    store.commit(Change(incident, expected_version=2, follow_ups=[done]))

    assert [f.id for f in added] == [1, 2]
    assert store.follow_ups(incident.id) == [done, added[1]]
    assert store.get_follow_up(2) == added[1]
    assert store.get_follow_up(3) is None


def test_follow_ups_of_a_new_incident_get_its_id(store: SqlStore) -> None:
    saved = store.commit(
        Change(
            new_incident(),
            expected_version=None,
            follow_ups=[FollowUp(incident_id=0, title="Postmortem", created_at=T0)],
        )
    )

    assert saved.follow_ups[0].incident_id == saved.incident.id
    assert store.follow_ups(saved.incident.id) == saved.follow_ups


def test_updating_an_unknown_follow_up_raises_not_found(
    store: SqlStore, declare: DeclareFn
) -> None:
    incident = declare().incident
    ghost = FollowUp(incident_id=incident.id, title="?", created_at=T0, id=41)

    with pytest.raises(NotFound, match="41"):
        store.commit(Change(incident, expected_version=1, follow_ups=[ghost]))

    assert store.get_incident(incident.id).version == 1  # type: ignore[union-attr]


def test_change_token_changes_after_each_commit(store: SqlStore, declare: DeclareFn) -> None:
    empty = store.change_token()
    incident = declare().incident
    after_declare = store.change_token()
    store.get_incident(incident.id)
    store.events(incident.id)

    assert store.change_token() == after_declare
    store.commit(Change(incident.with_changes(title="renamed"), expected_version=1))
    assert len({empty, after_declare, store.change_token()}) == 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_any_json_event_data_round_trips(store: SqlStore, data: dict[str, Any]) -> None:
    incident = store.commit(Change(new_incident(), expected_version=None)).incident
    event = Event(kind=EventKind.UPDATE_POSTED, at=T0, actor=ALICE, data=data)

    saved = store.commit(Change(incident, expected_version=1, events=[event])).events[0]

    assert store.get_event(saved.id) == saved
