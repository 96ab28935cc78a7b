"""Senders retry and HA Alertmanagers deliver twice: one timeline entry per real state change.

Reproduced before the fix: 20 identical "resolved" deliveries at once left 14
timeline entries and 31 chat posts on SQLite (one process) and 20 entries on
PostgreSQL with two replicas. These run on SQLite, and on PostgreSQL when
``CRASHBOT_TEST_POSTGRES_URL`` is set (``.ci/run``).
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from crashbot_core import Crashbot, FixedClock
from crashbot_core.models import Alert, AlertStatus, EventKind
from crashbot_core.testing import Recorder, make_crashbot, registered
from crashbot_sqlalchemy.store import SqlStore

FIRING = Alert(source="generic", fingerprint="disk-db-7", status=AlertStatus.FIRING, title="disk")
RESOLVED = Alert(
    source="generic", fingerprint="disk-db-7", status=AlertStatus.RESOLVED, title="disk"
)


def _alert_entries(store: SqlStore, incident_id: int) -> list[tuple[str, str]]:
    return [
        (e.kind.value, str(e.data.get("status", e.data.get("to", ""))) if e.data else "")
        for e in store.events(incident_id)
        if e.kind in {EventKind.ALERT_ATTACHED, EventKind.STATUS_CHANGED, EventKind.REOPENED}
    ]


def _race(bot: Crashbot, alert: Alert, copies: int) -> list[str]:
    start = threading.Barrier(copies)

    def deliver(_: int) -> str:
        start.wait()
        return bot.ingest_alert(alert).action

    with ThreadPoolExecutor(max_workers=copies) as pool:
        return list(pool.map(deliver, range(copies)))


def test_twenty_identical_resolved_deliveries_at_once_record_one_change(
    database_url: str, clock: FixedClock
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock)
    recorder = Recorder()
    try:
        with registered(bot.pm, recorder, "chat"):
            bot.ingest_alert(FIRING)
            actions = _race(bot, RESOLVED, 20)
        entries = _alert_entries(bot.store, 1)  # type: ignore[arg-type]
        stored = bot.store.alerts(1)
    finally:
        bot.close()

    assert sorted(actions) == ["attached"] + ["grouped"] * 19
    assert entries == [("alert_attached", "resolved"), ("status_changed", "monitoring")]
    assert len(stored) == 21  # every delivery is kept, linked to the incident
    assert recorder.kinds.count("alert_attached") == 1  # one chat post for the change


def test_identical_firing_deliveries_reopening_a_resolved_incident_reopen_once(
    database_url: str, clock: FixedClock
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock)
    try:
        bot.ingest_alert(FIRING)
        bot.resolve(1)
        actions = _race(bot, FIRING, 12)
        entries = _alert_entries(bot.store, 1)  # type: ignore[arg-type]
    finally:
        bot.close()

    assert actions.count("reopened") + actions.count("grouped") == 12
    assert [kind for kind, _ in entries].count("reopened") == 1
    assert entries.count(("alert_attached", "firing")) == 1


def _deliver_in_process(database_url: str, start: Any, results: Any, copies: int) -> None:
    bot = make_crashbot(database_url=database_url)
    try:
        start.wait(30)
        results.put(_race(bot, RESOLVED, copies))
    finally:
        bot.close()


def test_two_replicas_receiving_the_same_resolved_alert_ten_times_each_record_one_change(
    database_url: str,
) -> None:
    setup = make_crashbot(database_url=database_url)
    try:
        setup.ingest_alert(FIRING)
    finally:
        setup.close()
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    replicas = [
        ctx.Process(target=_deliver_in_process, args=(database_url, start, results, 10))
        for _ in range(2)
    ]
    for replica in replicas:
        replica.start()
    start.set()
    actions = [a for _ in replicas for a in results.get(timeout=90)]
    for replica in replicas:
        replica.join(10)

    store = SqlStore.from_url(database_url)
    try:
        entries = _alert_entries(store, 1)
    finally:
        store.close()
    assert sorted(actions) == ["attached"] + ["grouped"] * 19
    assert entries == [("alert_attached", "resolved"), ("status_changed", "monitoring")]
