"""list_incidents and count_incidents honour every IncidentFilter field."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from sqlstore_support import T0, DeclareFn

from crashbot_core.models import Impact, Status
from crashbot_core.store import Change, IncidentFilter
from crashbot_sqlalchemy.store import SqlStore


@pytest.fixture
def incidents(declare: DeclareFn) -> None:
    """Five incidents, started an hour apart (id 1 oldest)."""
    specs: list[dict[str, object]] = [
        {"severity": "SEV1", "public": True, "components": {"api": Impact.MAJOR_OUTAGE}},
        {"severity": "SEV2", "status": Status.RESOLVED, "labels": {"team": "payments"}},
        {
            "severity": "SEV3",
            "status": Status.MONITORING,
            "public": True,
            "components": {"api": Impact.PARTIAL_OUTAGE, "web": Impact.DEGRADED_PERFORMANCE},
            "labels": {"team": "core"},
            "source": "slack",
        },
        {"severity": "SEV4", "source": "alert:grafana", "labels": {"team": "payments"}},
        {"severity": "SEV1", "status": Status.RESOLVED, "public": True, "source": "slack"},
    ]
    for n, spec in enumerate(specs):
        declare(started_at=T0 + timedelta(hours=n), **spec)


@pytest.mark.usefixtures("incidents")
@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (IncidentFilter(), [5, 4, 3, 2, 1]),
        (IncidentFilter(newest_first=False), [1, 2, 3, 4, 5]),
        (IncidentFilter(open=True), [4, 3, 1]),
        (IncidentFilter(open=False), [5, 2]),
        (IncidentFilter(statuses=(Status.MONITORING, Status.RESOLVED)), [5, 3, 2]),
        (IncidentFilter(severities=("SEV1",)), [5, 1]),
        (IncidentFilter(severities=("SEV2", "SEV3")), [3, 2]),
        (IncidentFilter(since=T0 + timedelta(hours=2)), [5, 4, 3]),
        (IncidentFilter(until=T0 + timedelta(hours=2)), [2, 1]),
        (IncidentFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)), [3, 2]),
        (IncidentFilter(public=True), [5, 3, 1]),
        (IncidentFilter(public=False), [4, 2]),
        (IncidentFilter(component="api"), [3, 1]),
        (IncidentFilter(component="web"), [3]),
        (IncidentFilter(component="db"), []),
        (IncidentFilter(label=("team", "payments")), [4, 2]),
        (IncidentFilter(label=("team", "nobody")), []),
        (IncidentFilter(source="slack"), [5, 3]),
        (IncidentFilter(public=True, open=True, component="api"), [3, 1]),
        (IncidentFilter(limit=2), [5, 4]),
        (IncidentFilter(limit=2, offset=2), [3, 2]),
        (IncidentFilter(offset=4), [1]),
        (IncidentFilter(limit=2, newest_first=False, open=True), [1, 3]),
    ],
)
def test_filter_selects_matching_incidents(
    store: SqlStore, flt: IncidentFilter, expected: list[int]
) -> None:
    listed = store.list_incidents(flt)

    assert [i.id for i in listed] == expected
    unpaged = attrs.evolve(flt, limit=None, offset=0)
    assert store.count_incidents(flt) == len(store.list_incidents(unpaged))


def test_component_and_label_filters_follow_updates(store: SqlStore, declare: DeclareFn) -> None:
    incident = declare(components={"api": Impact.MAJOR_OUTAGE}, labels={"team": "a"}).incident
    moved = incident.with_changes(components={"web": Impact.PARTIAL_OUTAGE}, labels={"team": "b"})

    store.commit(Change(moved, expected_version=1))

    assert store.list_incidents(IncidentFilter(component="api")) == []
    assert [i.id for i in store.list_incidents(IncidentFilter(component="web"))] == [incident.id]
    assert store.count_incidents(IncidentFilter(label=("team", "a"))) == 0
    assert store.count_incidents(IncidentFilter(label=("team", "b"))) == 1


def test_same_start_time_orders_by_id(store: SqlStore, declare: DeclareFn) -> None:
    for _ in range(3):
        declare()

    assert [i.id for i in store.list_incidents(IncidentFilter())] == [3, 2, 1]
    assert [i.id for i in store.list_incidents(IncidentFilter(newest_first=False))] == [1, 2, 3]
