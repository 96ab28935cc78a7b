"""One new alert group, many writers at once (threads, stores, processes): one incident."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from crashbot_core import lifecycle
from crashbot_core.models import Actor, Alert, AlertStatus
from crashbot_core.severity import DEFAULT_POLICY
from crashbot_core.store import Change, IncidentFilter, Saved
from crashbot_sqlalchemy.store import SqlStore

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LABEL = ("alert_group", "g-0123456789abcdef")


def new_change() -> Change:
    incident, events = lifecycle.declare(
        title="disk full",
        severity=DEFAULT_POLICY.default_level,
        actor=Actor.system(),
        now=T,
        labels={LABEL[0]: LABEL[1]},
    )
    return Change(incident=incident, expected_version=None, events=events)


def test_separate_stores_racing_on_one_group_declare_once(database_url: str) -> None:
    # Separate stores have separate connection pools, like separate processes:
    # only the database can keep them from both declaring.
    stores = [SqlStore.from_url(database_url) for _ in range(6)]
    barrier = threading.Barrier(len(stores))

    def race(store: SqlStore) -> Saved | int:
        barrier.wait()
        return store.commit_for_alert_group(new_change(), LABEL)

    try:
        with ThreadPoolExecutor(max_workers=len(stores)) as pool:
            outcomes = list(pool.map(race, stores))
        declared = [o for o in outcomes if isinstance(o, Saved)]
        found = [o for o in outcomes if isinstance(o, int)]
        incidents = stores[0].list_incidents(IncidentFilter(label=LABEL))
    finally:
        for store in stores:
            store.close()

    assert len(declared) == 1
    assert found == [declared[0].incident.id] * (len(stores) - 1)
    assert [i.id for i in incidents] == [declared[0].incident.id]


def test_a_resolved_incident_does_not_hold_the_group(database_url: str) -> None:
    store = SqlStore.from_url(database_url)
    try:
        first = store.commit_for_alert_group(new_change(), LABEL)
        assert isinstance(first, Saved)
        closed, events = lifecycle.resolve(first.incident, actor=Actor.system(), now=T)
        store.commit(
            Change(incident=closed, expected_version=first.incident.version, events=events)
        )

        second = store.commit_for_alert_group(new_change(), LABEL)
    finally:
        store.close()

    assert isinstance(second, Saved)
    assert second.incident.id != first.incident.id


def _ingest_in_process(database_url: str, start: Any, results: Any) -> None:
    from crashbot_core.testing import make_crashbot

    bot = make_crashbot(database_url=database_url)
    try:
        start.wait(30)
        alert = Alert(
            source="generic", fingerprint="same-everywhere", status=AlertStatus.FIRING, title="x"
        )
        results.put(bot.ingest_alert(alert).action)
    finally:
        bot.close()


def test_processes_ingesting_one_new_fingerprint_declare_one_incident(database_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_ingest_in_process, args=(database_url, start, results))
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    start.set()
    actions = sorted(results.get(timeout=60) for _ in workers)
    for w in workers:
        w.join(10)

    store = SqlStore.from_url(database_url)
    try:
        incidents = store.list_incidents(IncidentFilter())
        attached = store.alerts(incidents[0].id)
    finally:
        store.close()
    assert actions.count("declared") == 1
    assert len(incidents) == 1
    assert len(attached) == 4
