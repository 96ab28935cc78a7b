"""The delivery outbox, reminders' exactly-once claim, and alerts."""

from __future__ import annotations

import threading
from datetime import timedelta

import attrs
import pytest
from sqlstore_support import ALICE, T0, DeclareFn, new_incident

from crashbot_core.errors import NotFound
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


def test_due_deliveries_are_pending_or_failed_and_due(store: SqlStore, declare: DeclareFn) -> None:
    for _ in range(4):
        declare(subscribers=("slack",))
    now = T0 + timedelta(minutes=10)
    store.mark_delivery(1, "slack", DeliveryState.DELIVERED, at=now)
    store.mark_delivery(
        2, "slack", DeliveryState.FAILED, at=now, error="ratelimited", next_attempt_at=now
    )
    store.mark_delivery(
        3, "slack", DeliveryState.FAILED, at=now, next_attempt_at=now + timedelta(seconds=1)
    )

    due = store.due_deliveries(now)

    assert [(d.event_id, d.state) for d in due] == [
        (2, DeliveryState.FAILED),
        (4, DeliveryState.PENDING),
    ]
    assert [d.event_id for d in store.due_deliveries(now + timedelta(seconds=1))] == [2, 3, 4]
    assert [d.event_id for d in store.due_deliveries(now, limit=1)] == [2]


def test_mark_delivery_counts_attempts_and_keeps_the_error(
    store: SqlStore, declare: DeclareFn
) -> None:
    declare(subscribers=("slack",))
    retry_at = T0 + timedelta(minutes=5)
    store.mark_delivery(
        1, "slack", DeliveryState.FAILED, at=T0, error="503 from Slack", next_attempt_at=retry_at
    )
    failed = store.deliveries(states=[DeliveryState.FAILED])
    store.mark_delivery(1, "slack", DeliveryState.DELIVERED, at=retry_at)

    assert failed == [
        Delivery(
            event_id=1,
            incident_id=1,
            plugin="slack",
            state=DeliveryState.FAILED,
            attempts=1,
            last_error="503 from Slack",
            next_attempt_at=retry_at,
            updated_at=T0,
        )
    ]
    [delivered] = store.deliveries()
    assert (delivered.state, delivered.attempts, delivered.last_error) == (
        DeliveryState.DELIVERED,
        2,
        None,
    )
    assert store.deliveries(states=[DeliveryState.FAILED, DeliveryState.DEAD]) == []


def test_mark_delivery_for_a_late_subscriber_creates_its_row(
    store: SqlStore, declare: DeclareFn
) -> None:
    declare(subscribers=("slack",))

    store.mark_delivery(1, "pagerduty", DeliveryState.DEAD, at=T0, error="gave up")

    [late] = store.deliveries(states=[DeliveryState.DEAD])
    assert (late.plugin, late.incident_id, late.attempts) == ("pagerduty", 1, 1)


def test_mark_delivery_of_an_unknown_event_raises_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound, match="event"):
        store.mark_delivery(404, "slack", DeliveryState.DELIVERED, at=T0)


def test_deliveries_lists_newest_first_within_limit(store: SqlStore, declare: DeclareFn) -> None:
    for _ in range(3):
        declare(subscribers=("slack",))

    assert [d.event_id for d in store.deliveries(limit=2)] == [3, 2]


def test_claim_reminder_succeeds_once(store: SqlStore, declare: DeclareFn) -> None:
    declare()

    assert store.claim_reminder("1:update_overdue:0", 1, T0) is True
    assert store.claim_reminder("1:update_overdue:0", 1, T0) is False
    assert store.claim_reminder("1:update_overdue:1", 1, T0) is True


def test_claim_reminder_from_many_threads_wins_once(store: SqlStore, declare: DeclareFn) -> None:
    declare()
    start = threading.Barrier(8)
    results: list[bool] = []

    def claim() -> None:
        start.wait()
        results.append(store.claim_reminder("1:stale:7d", 1, T0))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]


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


def test_resolved_incidents_no_longer_catch_their_alerts(store: SqlStore) -> None:
    alert = store.record_alert(_alert(), None, T0)
    incident = store.commit(
        Change(new_incident(), expected_version=None, alert_ids=[alert.id])
    ).incident

    store.commit(Change(incident.with_changes(status=Status.RESOLVED), expected_version=1))

    assert store.open_incident_for_alert("alertmanager", "abc") is None
