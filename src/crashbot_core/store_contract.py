"""The store contract: a pytest suite every store must pass.

Third-party store authors run it against their own store::

    # tests/test_my_store_contract.py
    import pytest
    from crashbot_core.store_contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self):
            store = MyStore.open("…a fresh, empty database…")
            yield store
            store.close()

Every test gets a fresh, empty store from the ``store`` fixture. The tests of
an optional capability (:mod:`crashbot_core.store`'s ``LockedCommit``,
``AlertGroupCommit``, ``BulkAlerts``, ``StoreMetrics``, ``MultiCommit``,
``SubscriptionStore``, ``RateLimits`` …) are skipped for a
store that does not offer it, with the capability named in the reason.

The built-in SQLAlchemy store runs this suite on SQLite and PostgreSQL
(``tests/sqlalchemy/test_sql_contract.py``).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import attrs
import pytest

from crashbot_core import metrics
from crashbot_core.errors import ConflictError, LeaseLost, NotFound
from crashbot_core.models import (
    Actor,
    Alert,
    AlertStatus,
    AlertSummary,
    ApiToken,
    Component,
    DeliveryState,
    EventKind,
    FollowUp,
    Impact,
    Incident,
    Status,
    TokenScope,
)
from crashbot_core.severity import DEFAULT_POLICY
from crashbot_core.store import (
    AlertGroupCommit,
    Change,
    FollowUpFilter,
    IncidentFilter,
    LockedCommit,
    MultiCommit,
    Saved,
    Store,
    StoreMetrics,
)
from crashbot_core.store_contract_bulk import BulkReadContract
from crashbot_core.store_contract_maintenance import MaintenanceContract
from crashbot_core.store_contract_ratelimits import RateLimitContract
from crashbot_core.store_contract_records import ALICE, LEASE, SECOND, T0
from crashbot_core.store_contract_records import declare as _declare
from crashbot_core.store_contract_records import new_event as _event
from crashbot_core.store_contract_records import new_incident as _incident
from crashbot_core.store_contract_records import send_reminder as _send_reminder
from crashbot_core.store_contract_records import update as _update
from crashbot_core.store_contract_subscriptions import SubscriptionContract


class StoreContract(MaintenanceContract, BulkReadContract, SubscriptionContract, RateLimitContract):
    """The behaviour :class:`~crashbot_core.store.Store` promises; subclass it with a ``store`` fixture."""

    # ------------------------------------------------------------------ incidents

    def test_a_new_incident_gets_an_id_a_ref_and_version_1(self, store: Store) -> None:
        saved = _declare(store)

        assert (saved.incident.id, saved.incident.ref, saved.incident.version) == (1, "INC-1", 1)
        assert store.get_incident(1) == saved.incident
        assert [e.id > 0 and e.incident_id == 1 for e in saved.events] == [True]

    def test_the_ref_uses_the_configured_prefix(self, store: Store) -> None:
        incident = _incident()
        saved = store.commit(Change(incident, expected_version=None, ref_prefix="OPS"))

        assert saved.incident.ref == "OPS-1"

    def test_ids_are_sequential(self, store: Store) -> None:
        ids = [_declare(store).incident.id for _ in range(3)]

        assert ids == [1, 2, 3]

    def test_a_stale_version_is_a_conflict_and_writes_nothing(self, store: Store) -> None:
        first = _declare(store).incident
        _update(store, first)

        with pytest.raises(ConflictError):
            _update(store, first)
        assert store.get_incident(first.id).version == 2  # type: ignore[union-attr]
        assert len(store.events(first.id)) == 2

    def test_changing_a_missing_incident_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            store.commit(Change(_incident(id=404), expected_version=1))

    def test_an_unknown_incident_is_none(self, store: Store) -> None:
        assert store.get_incident(404) is None

    def test_every_field_round_trips_with_utc_datetimes(self, store: Store) -> None:
        later = T0 + timedelta(minutes=5)
        saved = _declare(
            store,
            title="Payments: 5xx",
            description="Card auth fails",
            severity="SEV1",
            status=Status.MONITORING,
            public=True,
            components={"api": Impact.MAJOR_OUTAGE},
            roles={"commander": ALICE},
            labels={"team": "payments"},
            acknowledged_at=later,
            mitigated_at=later,
            last_update_at=later,
            source="alert:sentry",
            refs={"slack.channel": "C1"},
        )

        stored = store.get_incident(saved.incident.id)

        assert stored == saved.incident
        assert stored is not None and stored.acknowledged_at == later
        assert stored.acknowledged_at.tzinfo is not None
        assert stored.acknowledged_at.utcoffset() == timedelta(0)

    def test_list_filters_orders_and_counts(self, store: Store) -> None:
        for hours, status, public in [
            (0, Status.RESOLVED, True),
            (1, Status.INVESTIGATING, False),
            (2, Status.MONITORING, True),
        ]:
            _declare(store, started_at=T0 + timedelta(hours=hours), status=status, public=public)

        def ids(**criteria: Any) -> list[int]:
            return [i.id for i in store.list_incidents(IncidentFilter(**criteria))]

        assert ids() == [3, 2, 1]
        assert ids(newest_first=False) == [1, 2, 3]
        assert ids(open=True) == [3, 2]
        assert ids(open=False) == [1]
        assert ids(public=True) == [3, 1]
        assert ids(since=T0 + timedelta(hours=1)) == [3, 2]
        assert ids(until=T0 + timedelta(hours=1)) == [1]
        assert ids(limit=1, offset=1) == [2]
        assert store.count_incidents(IncidentFilter(open=True, limit=1)) == 2
        first = store.get_incident(1)
        assert first is not None
        store.commit(Change(attrs.evolve(first, resolved_at=T0 + timedelta(hours=5)), 1))
        assert ids(active_since=T0 + timedelta(hours=5)) == [3, 2, 1]
        assert ids(active_since=T0 + timedelta(hours=6)) == [3, 2]

    def test_list_pages_by_keyset_after_an_incident(self, store: Store) -> None:
        # Incidents 1 and 3 start at the same instant: the id breaks the tie.
        for hours in (0, 1, 0, 2):
            _declare(store, started_at=T0 + timedelta(hours=hours))

        def ids(**criteria: Any) -> list[int]:
            return [i.id for i in store.list_incidents(IncidentFilter(**criteria))]

        assert ids() == [4, 2, 3, 1]
        assert ids(after=2, limit=2) == [3, 1]
        assert ids(after=3) == [1]
        assert ids(after=3, newest_first=False) == [2, 4]
        assert ids(after=1, newest_first=False) == [3, 2, 4]
        assert ids(after=404) == []  # an unknown incident: an empty page

    def test_list_by_label_component_severity_and_source(self, store: Store) -> None:
        _declare(store, labels={"group": "a"}, components={"api": Impact.DEGRADED_PERFORMANCE})
        _declare(store, labels={"group": "b"}, severity="SEV1", source="slack")

        def ids(**criteria: Any) -> list[int]:
            return [i.id for i in store.list_incidents(IncidentFilter(**criteria))]

        assert ids(label=("group", "b")) == [2]
        assert ids(component="api") == [1]
        assert ids(severities=("SEV1",)) == [2]
        assert ids(source="slack") == [2]

    def test_the_timeline_is_oldest_first_and_can_be_public_only(self, store: Store) -> None:
        incident = _declare(store).incident
        _update(store, incident)

        timeline = store.events(incident.id)

        assert [e.kind for e in timeline] == [EventKind.DECLARED, EventKind.UPDATE_POSTED]
        assert [e.kind for e in store.events(incident.id, public_only=True)] == [EventKind.DECLARED]
        assert store.get_event(timeline[1].id) == timeline[1]
        assert store.get_event(10_000) is None

    def test_the_change_token_moves_on_every_commit(self, store: Store) -> None:
        before = store.change_token()
        incident = _declare(store).incident
        middle = store.change_token()
        _update(store, incident)

        assert len({before, middle, store.change_token()}) == 3

    # ------------------------------------------------------------------ follow-ups

    def test_follow_ups_are_inserted_then_updated(self, store: Store) -> None:
        incident = _declare(store).incident
        fu = FollowUp(incident_id=incident.id, title="Add an alert", created_at=T0)
        saved = store.commit(Change(incident, expected_version=1, follow_ups=[fu]))
        [inserted] = saved.follow_ups
        done = attrs.evolve(inserted, done=True, done_at=T0 + timedelta(days=1))
        store.commit(Change(saved.incident, expected_version=2, follow_ups=[done]))

        assert inserted.id > 0
        assert store.follow_ups(incident.id) == [done]
        assert store.get_follow_up(inserted.id) == done
        assert store.get_follow_up(10_000) is None

    def test_follow_ups_are_listed_across_incidents_in_one_call(self, store: Store) -> None:
        first = _declare(store).incident
        second = _declare(store, title="Search is slow").incident
        bob = Actor(platform="slack", id="UBOB", name="Bob")
        day = T0.date()

        def add(incident: Incident, title: str, **fields: Any) -> FollowUp:
            current = store.get_incident(incident.id)
            assert current is not None
            fu = FollowUp(incident_id=incident.id, title=title, created_at=T0, **fields)
            return store.commit(Change(current, current.version, follow_ups=[fu])).follow_ups[0]

        undated = add(first, "Write the runbook", owner=ALICE)
        late = add(second, "Add an index", owner=bob, due=day - timedelta(days=2))
        soon = add(first, "Add an alert", owner=ALICE, due=day + timedelta(days=3))
        done = add(second, "Page the DBA", owner=bob, due=day - timedelta(days=9), done=True)

        def listed(**criteria: Any) -> list[tuple[int, int]]:
            return [(f.id, i.id) for f, i in store.list_follow_ups(FollowUpFilter(**criteria))]

        assert listed() == [(late.id, second.id), (soon.id, first.id), (undated.id, first.id)]
        assert listed(done=None)[0] == (done.id, second.id)
        assert listed(done=True) == [(done.id, second.id)]
        assert listed(due_before=day) == [(late.id, second.id)]
        assert listed(owner="ubob") == listed(owner="BOB") == [(late.id, second.id)]
        assert listed(owner="alice", limit=1) == [(soon.id, first.id)]
        assert listed(owner="carol") == []
        [(follow_up, incident)] = store.list_follow_ups(FollowUpFilter(due_before=day))
        assert (follow_up, incident) == (late, store.get_incident(second.id))

    # ------------------------------------------------------------------ alerts

    def test_alerts_are_recorded_before_routing_then_attached(self, store: Store) -> None:
        alert = Alert(
            source="alertmanager",
            fingerprint="fp1",
            status=AlertStatus.FIRING,
            title="HighErrorRate",
            labels={"service": "api"},
        )
        recorded = store.record_alert(alert, b"{}", T0)
        incident = _declare(store).incident
        store.commit(Change(incident, expected_version=1, alert_ids=[recorded.id]))

        assert recorded.id > 0 and recorded.received_at == T0
        assert [a.id for a in store.alerts(incident.id)] == [recorded.id]
        assert store.open_incident_for_alert("alertmanager", "fp1") == incident.id
        assert store.open_incident_for_alert("alertmanager", "other") is None

    def test_alerts_keep_their_group_and_count_per_group_within_a_window(
        self, store: Store
    ) -> None:
        def alert(fp: str, group: str, status: AlertStatus = AlertStatus.FIRING) -> Alert:
            return Alert(
                source="alertmanager",
                fingerprint=fp,
                status=status,
                title="HighLatency",
                group_id=group,
                omitted=3,
            )

        store.record_alert(alert("a", "g-1"), None, T0 - timedelta(hours=2))
        for fp in ("a", "b"):
            store.record_alert(alert(fp, "g-1"), None, T0)
        store.record_alert(alert("b", "g-1", AlertStatus.RESOLVED), None, T0)
        kept = store.record_alert(alert("c", "g-2"), None, T0)

        assert store.count_group_alerts("g-1", T0 - timedelta(hours=1)) == 2
        assert store.count_group_alerts("g-1", T0 - timedelta(hours=3)) == 3
        assert store.count_group_alerts("g-3", T0 - timedelta(hours=3)) == 0
        incident = _declare(store).incident
        store.commit(Change(incident, expected_version=1, alert_ids=[kept.id]))
        [stored] = store.alerts(incident.id)
        assert (stored.group_id, stored.omitted) == ("g-2", 3)

    def test_the_alert_summary_counts_repeats_and_the_last_arrival(self, store: Store) -> None:
        incident = _declare(store).incident
        assert store.alert_summary(incident.id) == AlertSummary()
        ids = []
        for i, fp in enumerate(("a", "a", "b")):
            alert = Alert(
                source="alertmanager",
                fingerprint=fp,
                status=AlertStatus.FIRING,
                title=fp,
                omitted=7 if i == 2 else 0,
            )
            ids.append(store.record_alert(alert, None, T0 + timedelta(minutes=i)).id)
        store.commit(Change(incident, expected_version=1, alert_ids=ids))

        summary = store.alert_summary(incident.id)

        assert (summary.received, summary.distinct, summary.repeats) == (3, 2, 1)
        assert summary.last_at == T0 + timedelta(minutes=2)
        assert summary.omitted == 7

    # ------------------------------------------------------------------ outbox

    def test_a_commit_writes_one_pending_delivery_per_event_and_subscriber(
        self, store: Store
    ) -> None:
        _declare(store, subscribers=("discord", "slack"))

        rows = store.deliveries()

        assert sorted((d.event_id, d.plugin, d.state) for d in rows) == [
            (1, "discord", DeliveryState.PENDING),
            (1, "slack", DeliveryState.PENDING),
        ]
        assert store.count_deliveries() == {
            ("discord", DeliveryState.PENDING): 1,
            ("slack", DeliveryState.PENDING): 1,
        }

    def test_a_claimed_delivery_is_not_claimed_twice(self, store: Store) -> None:
        _declare(store, subscribers=("slack",))

        first = store.claim_deliveries(T0, owner="w1", lease_until=LEASE)
        second = store.claim_deliveries(T0, owner="w2", lease_until=LEASE)

        assert [(d.event_id, d.plugin) for d in first] == [(1, "slack")]
        assert second == []

    def test_a_lease_that_ran_out_is_taken_over(self, store: Store) -> None:
        _declare(store, subscribers=("slack",))
        store.claim_deliveries(T0, owner="dead", lease_until=LEASE)

        taken = store.claim_deliveries(LEASE + timedelta(seconds=1), owner="w2", lease_until=LEASE)

        assert [d.event_id for d in taken] == [1]

    def test_a_later_event_waits_for_an_earlier_one_of_its_incident(self, store: Store) -> None:
        incident = _declare(store, subscribers=("slack",)).incident
        _update(store, incident, subscribers=("slack",))

        claimed = store.claim_deliveries(T0, owner="w", lease_until=LEASE)
        assert [d.event_id for d in claimed] == [1]
        store.finish_delivery(1, "slack", DeliveryState.DELIVERED, owner="w", at=T0)
        after = store.claim_deliveries(T0, owner="w", lease_until=LEASE)

        assert [d.event_id for d in after] == [2]

    def test_a_deferred_delivery_does_not_hold_later_events_back(self, store: Store) -> None:
        incident = _declare(store, subscribers=("slack",)).incident
        _update(store, incident, subscribers=("slack",))
        store.claim_deliveries(T0, owner="w", lease_until=LEASE)
        later = T0 + timedelta(seconds=30)
        # Pending with a time: its plugin asked to be called again (DeliverLater).
        store.finish_delivery(
            1, "slack", DeliveryState.PENDING, owner="w", at=T0, next_attempt_at=later
        )

        assert [d.event_id for d in store.claim_deliveries(T0, owner="w", lease_until=LEASE)] == [2]
        store.finish_delivery(2, "slack", DeliveryState.DELIVERED, owner="w", at=T0)
        assert store.claim_deliveries(T0, owner="w", lease_until=LEASE) == []
        [again] = store.claim_deliveries(later, owner="w", lease_until=LEASE)
        assert again.event_id == 1

    def test_a_failed_delivery_is_due_again_at_its_next_attempt(self, store: Store) -> None:
        _declare(store, subscribers=("slack",))
        store.claim_deliveries(T0, owner="w", lease_until=LEASE)
        retry_at = T0 + timedelta(minutes=1)
        assert store.finish_delivery(
            1,
            "slack",
            DeliveryState.FAILED,
            owner="w",
            at=T0,
            error="503",
            next_attempt_at=retry_at,
        )

        assert store.claim_deliveries(T0, owner="w", lease_until=LEASE) == []
        [again] = store.claim_deliveries(retry_at, owner="w", lease_until=LEASE)
        assert (again.attempts, again.last_error) == (1, "503")
        assert [d.state for d in store.deliveries(states=[DeliveryState.FAILED])] == [
            DeliveryState.FAILED
        ]

    def test_a_delivered_row_is_never_finished_again(self, store: Store) -> None:
        _declare(store, subscribers=("slack",))
        store.claim_deliveries(T0, owner="w", lease_until=LEASE)
        assert store.finish_delivery(1, "slack", DeliveryState.DELIVERED, owner="w", at=T0)

        assert not store.finish_delivery(1, "slack", DeliveryState.DELIVERED, owner="w", at=T0)
        later = LEASE + timedelta(hours=1)
        assert store.claim_deliveries(later, owner="w", lease_until=later) == []

    def test_released_deliveries_can_be_claimed_at_once(self, store: Store) -> None:
        _declare(store, subscribers=("slack",))
        store.claim_deliveries(T0, owner="w1", lease_until=LEASE)
        store.release_deliveries([(1, "slack")], owner="w1")

        assert [d.event_id for d in store.claim_deliveries(T0, owner="w2", lease_until=LEASE)] == [
            1
        ]

    def test_only_the_named_events_are_claimed_inline(self, store: Store) -> None:
        _declare(store, subscribers=("slack",))
        second = _declare(store, subscribers=("slack",))

        claimed = store.claim_deliveries(
            T0, owner="w", lease_until=LEASE, event_ids=[second.events[0].id]
        )

        assert [d.event_id for d in claimed] == [second.events[0].id]

    # ------------------------------------------------------------------ reminders

    def test_a_reminder_is_leased_to_one_caller_and_sent_once(self, store: Store) -> None:
        incident = _declare(store).incident
        key = "1:update_overdue:0"

        assert store.lease_reminder(key, 1, owner="w1", now=T0, lease_until=LEASE)
        assert not store.lease_reminder(key, 1, owner="w2", now=T0, lease_until=LEASE)
        _send_reminder(store, incident, key, owner="w1")
        later = LEASE + timedelta(hours=1)
        assert not store.lease_reminder(key, 1, owner="w2", now=later, lease_until=later)
        assert [e.kind for e in store.events(1)][-1] is EventKind.REMINDER_SENT

    def test_a_reminder_whose_holder_died_is_taken_over(self, store: Store) -> None:
        incident = _declare(store).incident
        key = "1:stale:0"
        store.lease_reminder(key, 1, owner="dead", now=T0, lease_until=LEASE)
        later = LEASE + timedelta(seconds=1)

        assert store.lease_reminder(
            key, 1, owner="w2", now=later, lease_until=later + timedelta(minutes=2)
        )
        with pytest.raises(LeaseLost):
            _send_reminder(store, incident, key, owner="dead")
        assert len(store.events(1)) == 1  # the dead worker's change wrote nothing
        _send_reminder(store, incident, key, owner="w2")
        with pytest.raises(LeaseLost):  # sent: never again
            _send_reminder(store, store.get_incident(1), key, owner="w2")  # type: ignore[arg-type]

    # ------------------------------------------------------------------ components and tokens

    def test_components_are_upserted_by_key_and_listed_by_position(self, store: Store) -> None:
        store.upsert_component(Component(key="web", name="Web", position=2))
        store.upsert_component(Component(key="api", name="API", position=1))
        store.upsert_component(Component(key="web", name="Website", position=2))

        assert [(c.key, c.name) for c in store.components()] == [("api", "API"), ("web", "Website")]

    def test_tokens_are_found_by_hash(self, store: Store) -> None:
        token = store.create_token(
            ApiToken(name="ci", token_hash="ab" * 32, scope=TokenScope.WRITE, created_at=T0)
        )

        assert token.id > 0
        assert store.find_token("ab" * 32) == token
        assert store.find_token("cd" * 32) is None
        assert store.tokens() == [token]

    def test_token_use_is_recorded_once_per_window_and_revocation_kept(self, store: Store) -> None:
        token = store.create_token(
            ApiToken(name="ci", token_hash="ab" * 32, scope=TokenScope.READ, created_at=T0)
        )
        minute = timedelta(minutes=1)
        used = T0 + timedelta(hours=1)
        store.touch_token(token.id, used, unless_since=used - minute)
        store.touch_token(token.id, used + 30 * SECOND, unless_since=used + 30 * SECOND - minute)
        assert store.find_token("ab" * 32) == attrs.evolve(token, last_used_at=used)

        revoked = store.revoke_token("ci", used + minute)
        store.revoke_token("ci", used + 2 * minute)  # the first revocation time stays

        assert revoked == attrs.evolve(token, last_used_at=used, revoked_at=used + minute)
        assert store.find_token("ab" * 32) == revoked
        assert store.tokens() == [revoked]
        assert store.revoke_token("nobody", used) is None

    def test_a_fresh_store_is_writable(self, store: Store) -> None:
        before = store.change_token()

        store.check_writable()

        assert store.change_token() == before  # the probe changes nothing

    # ------------------------------------------------------------------ optional capabilities

    def test_locked_commit_builds_from_the_current_incident(self, store: Store) -> None:
        if not isinstance(store, LockedCommit):
            pytest.skip("the store does not offer LockedCommit")
        incident = _declare(store).incident
        _update(store, incident)

        saved = store.commit_locked(
            incident.id,
            lambda current: Change(
                attrs.evolve(current, title="Renamed"),
                expected_version=current.version,
            ),
        )

        assert (saved.incident.title, saved.incident.version) == ("Renamed", 3)
        with pytest.raises(NotFound):
            store.commit_locked(404, lambda current: Change(current, current.version))

    def test_alert_group_commit_declares_one_incident_per_group_under_contention(
        self, store: Store
    ) -> None:
        if not isinstance(store, AlertGroupCommit):
            pytest.skip("the store does not offer AlertGroupCommit")
        group = ("crashbot.alert_group", "g1")
        start = threading.Barrier(6)
        outcomes: list[Saved | int] = []

        def declare() -> None:
            start.wait()
            change = Change(_incident(labels={group[0]: group[1]}), expected_version=None)
            outcomes.append(store.commit_for_alert_group(change, group))

        threads = [threading.Thread(target=declare) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        saved = [o for o in outcomes if isinstance(o, Saved)]
        assert len(saved) == 1
        assert sorted(o for o in outcomes if isinstance(o, int)) == [saved[0].incident.id] * 5
        assert store.count_incidents(IncidentFilter(label=group)) == 1

    def test_store_metrics_equal_the_reference(self, store: Store) -> None:
        if not isinstance(store, StoreMetrics):
            pytest.skip("the store does not offer StoreMetrics")
        for minutes in (5, 30, 90):
            at = T0 + timedelta(minutes=minutes)
            _declare(store, severity="SEV2", acknowledged_at=at, mitigated_at=at)
            _declare(
                store,
                severity="SEV1",
                status=Status.RESOLVED,
                acknowledged_at=at,
                resolved_at=at + timedelta(hours=1),
            )
        now = T0 + timedelta(days=1)
        incidents = store.list_incidents(IncidentFilter(newest_first=False))

        in_store = store.metrics(DEFAULT_POLICY, now=now, by="severity")
        reference = metrics.compute(incidents, DEFAULT_POLICY, now=now, by="severity")

        assert in_store == reference

    def test_multi_commit_writes_every_change_or_none(self, store: Store) -> None:
        if not isinstance(store, MultiCommit):
            pytest.skip("the store does not offer MultiCommit")
        dup = _declare(store).incident
        original = _declare(store).incident
        fu = FollowUp(incident_id=dup.id, title="Add a canary", created_at=T0)
        fu = store.commit(Change(dup, dup.version, follow_ups=[fu])).follow_ups[0]
        dup = store.get_incident(dup.id) or dup
        firing = Alert(source="grafana", fingerprint="f", status=AlertStatus.FIRING, title="a")
        recorded = store.record_alert(firing, None, T0)
        store.commit(Change(dup, dup.version, alert_ids=[recorded.id]))
        dup = store.get_incident(dup.id) or dup
        before = store.change_token()

        with pytest.raises(ConflictError):
            store.commit_all(
                [
                    Change(attrs.evolve(original, title="Renamed"), original.version),
                    Change(dup, dup.version - 1),
                ]
            )
        assert store.get_incident(original.id) == original
        saved = store.commit_all(
            [
                Change(
                    attrs.evolve(dup, status=Status.RESOLVED, duplicate_of=original.id),
                    dup.version,
                    events=[_event(EventKind.CLOSED)],
                    subscribers=("chat",),
                ),
                Change(
                    original,
                    original.version,
                    events=[_event(EventKind.MERGED)],
                    follow_ups=[fu],
                    alert_ids=[recorded.id],
                    subscribers=("chat",),
                ),
            ]
        )

        assert [s.incident.id for s in saved] == [dup.id, original.id]
        assert [s.incident.version for s in saved] == [dup.version + 1, original.version + 1]
        assert store.get_incident(dup.id) == saved[0].incident
        assert [f.id for f in store.follow_ups(original.id)] == [fu.id]
        assert [a.id for a in store.alerts(original.id)] == [recorded.id]
        assert store.follow_ups(dup.id) == []
        assert store.alerts(dup.id) == []
        assert [e.kind for e in store.events(original.id)][-1] is EventKind.MERGED
        assert len(store.deliveries(states=[DeliveryState.PENDING])) == 2
        assert store.change_token() != before
