"""The store contract's part for bulk reads: :class:`~crashbot_core.store.BulkAlerts` and
:class:`~crashbot_core.store.BulkReads`.

:class:`~crashbot_core.store_contract.StoreContract` includes these tests; a
store without a capability skips its test, naming it.
"""

from __future__ import annotations

import attrs
import pytest

from crashbot_core.models import Alert, AlertStatus, FollowUp
from crashbot_core.store import BulkAlerts, BulkReads, Change, Store
from crashbot_core.store_contract_records import T0, declare, update


class BulkReadContract:
    """What ``BulkAlerts`` and ``BulkReads`` promise (mixed into ``StoreContract``)."""

    def test_bulk_alerts_record_look_up_and_link(self, store: Store) -> None:
        if not isinstance(store, BulkAlerts):
            pytest.skip("the store does not offer BulkAlerts")
        firing = Alert(source="grafana", fingerprint="f", status=AlertStatus.FIRING, title="a")
        resolved = attrs.evolve(firing, status=AlertStatus.RESOLVED)
        first, second = store.record_alerts([(firing, b"1"), (resolved, None)], T0)
        incident = declare(store, labels={"crashbot.alert_group": "g"}).incident
        store.link_alerts({incident.id: [first.id, second.id]})

        assert first.id < second.id
        assert [a.id for a in store.alerts(incident.id)] == [first.id, second.id]
        assert store.open_incidents_for_groups("crashbot.alert_group", ["g", "x"]) == {
            "g": incident
        }
        key = (incident.id, "grafana", "f")
        assert store.last_alert_statuses([key]) == {key: AlertStatus.RESOLVED}
        assert store.last_alert_statuses([key], before_id=second.id) == {key: AlertStatus.FIRING}

    def test_bulk_reads_equal_the_single_reads(self, store: Store) -> None:
        if not isinstance(store, BulkReads):
            pytest.skip("the store does not offer BulkReads")
        first = declare(store).incident
        update(store, first)
        second = declare(store).incident
        follow_up = FollowUp(incident_id=0, title="Add an alert", created_at=T0)
        store.commit(Change(first, first.version + 1, follow_ups=[follow_up, follow_up]))

        timelines = store.timelines([second.id, first.id, 404])
        record = store.incident_record(first.id)

        assert timelines == {
            first.id: store.events(first.id),
            second.id: store.events(second.id),
            404: [],
        }
        assert store.timelines([first.id], public_only=True) == {
            first.id: store.events(first.id, public_only=True)
        }
        assert store.timelines([]) == {}
        assert record is not None
        assert record.incident == store.get_incident(first.id)
        assert record.events == store.events(first.id)
        assert record.follow_ups == store.follow_ups(first.id)
        assert len(record.follow_ups) == 2
        assert store.incident_record(second.id).follow_ups == []  # type: ignore[union-attr]
        assert store.incident_record(404) is None
