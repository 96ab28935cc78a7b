"""Workers in separate processes: reminders once, deliveries once and in order, crashes."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from replica_support import Children
from support import T0

import crashbot_sqlalchemy.plugin as sql_plugin
from crashbot_core import Crashbot
from crashbot_core.clock import FixedClock, SystemClock
from crashbot_core.delivery import RetryPolicy
from crashbot_core.hookspecs import hookimpl
from crashbot_core.models import DeliveryState, Event, Incident
from crashbot_core.testing import make_crashbot


class ChatDown:
    """The notifier as the serving replica sees it: its chat API is down."""

    @hookimpl
    def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
        raise RuntimeError("chat API is down")


def serving_replica(url: str, clock: FixedClock | SystemClock | None = None) -> Crashbot:
    """A replica whose ``notifier`` plugin fails, leaving every event to the workers."""
    bot = make_crashbot(
        database_url=url,
        plugins={"sqlalchemy": sql_plugin, "notifier": ChatDown()},
        entry_points=False,
        clock=clock or SystemClock(),
    )
    bot.retry_policy = RetryPolicy(base=timedelta(milliseconds=10), cap=timedelta(seconds=0.1))
    return bot


def record_lines(path: Path, kind: str) -> list[list[str]]:
    """The record file's lines of one kind, split into words (kind dropped)."""
    if not path.exists():
        return []
    return [line.split()[1:] for line in path.read_text().splitlines() if line.split()[0] == kind]


def wait_for_line(path: Path, kind: str, timeout: float = 45) -> None:
    """Wait until the record file has a line of this kind."""
    deadline = time.monotonic() + timeout
    while not record_lines(path, kind):
        assert time.monotonic() < deadline, f"no {kind!r} line in time"
        time.sleep(0.01)


def test_four_workers_send_each_of_200_due_reminders_exactly_once(
    replica_url: str, children: Children, tmp_path: Path
) -> None:
    clock = FixedClock(T0)
    bot = make_crashbot(
        database_url=replica_url,
        plugins={"sqlalchemy": sql_plugin},
        entry_points=False,
        clock=clock,
    )
    try:
        for i in range(100):
            bot.declare(f"Outage {i}", severity="SEV1")
        clock.advance(hours=1)  # unacknowledged past 5 min and no update for 30 min
        due = {r.key for _, r in bot.due_reminders()}
        assert len(due) == 200
        record, out = tmp_path / "record", tmp_path / "sent"
        for _ in range(4):
            children.start(
                "reminders",
                url=replica_url,
                at=clock.now().isoformat(),
                record=str(record),
                out=str(out),
            )
        children.release()
        children.wait(timeout=55)

        sent_keys = Counter(key for (key,) in record_lines(record, "reminder"))
        assert set(sent_keys) == due
        assert set(sent_keys.values()) == {1}
        assert sum(int(n) for n in out.read_text().split()) == 200
        # Every one is on its incident's timeline once, and nothing is due again.
        recorded = [
            e.data["key"]
            for inc in bot.list()
            for e in bot.timeline(inc.id)
            if e.kind.value == "reminder_sent"
        ]
        assert sorted(recorded) == sorted(due)
        assert all(not bot.send_reminder(inc, r) for inc, r in bot.due_reminders())
    finally:
        bot.close()


def test_a_flaky_notifier_gets_every_event_once_and_in_order(
    replica_url: str, children: Children, tmp_path: Path
) -> None:
    bot = serving_replica(replica_url)
    try:
        for i in range(3):
            inc = bot.declare(f"Outage {i}", severity="SEV2")
            for n in range(4):
                bot.update(inc.id, message=f"update {n}")
        assert [d.state for d in bot.deliveries(failed_only=True)] == [DeliveryState.FAILED] * 3
        record = tmp_path / "record"
        for _ in range(3):  # each worker's chat API fails its first 3 calls
            children.start("worker", url=replica_url, record=str(record), fail=3, expect=15)
        children.release()
        children.wait(timeout=55)

        done = [(int(ev), int(inc)) for ev, inc in record_lines(record, "done")]
        assert sorted(ev for ev, _ in done) == list(range(1, 16))  # each event exactly once
        for incident_id in {inc for _, inc in done}:
            order = [ev for ev, inc in done if inc == incident_id]
            assert order == sorted(order)  # per incident, in order
        rows = bot.deliveries(limit=100)
        assert {d.state for d in rows} == {DeliveryState.DELIVERED}
        assert max(d.attempts for d in rows) >= 2  # the retries really happened
    finally:
        bot.close()


def test_a_worker_killed_mid_delivery_is_taken_over_without_a_duplicate(
    replica_url: str, children: Children, tmp_path: Path
) -> None:
    bot = serving_replica(replica_url)
    try:
        inc = bot.declare("Checkout down", severity="SEV1")
        record = tmp_path / "record"
        doomed = children.start(
            "worker", url=replica_url, record=str(record), block=60, lease=3, expect=1
        )
        children.release()
        wait_for_line(record, "start")  # the doomed worker is inside the plugin call
        rescuer = children.start("worker", url=replica_url, record=str(record), lease=3, expect=1)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        children.wait(rescuer, timeout=50)

        assert record_lines(record, "start") == [["1"]]  # only the killed attempt
        assert record_lines(record, "done") == [["1", str(inc.id)]]  # completed once
        [delivery] = bot.deliveries()
        assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 2)
    finally:
        bot.close()


def test_sigterm_finishes_the_delivery_in_progress_and_hands_back_the_rest(
    replica_url: str, children: Children, tmp_path: Path
) -> None:
    bot = serving_replica(replica_url)
    try:
        for i in range(3):
            bot.declare(f"Outage {i}")
        record = tmp_path / "record"
        # A long lease: the rest can only move on quickly if it is handed back.
        stopping = children.start(
            "worker", url=replica_url, record=str(record), block=1, lease=600, expect=3
        )
        children.release()
        wait_for_line(record, "start")
        stopping.send_signal(signal.SIGTERM)
        children.wait(stopping, timeout=30)  # exits 0 ...
        assert record_lines(record, "done") == [["1", "1"]]  # ... after finishing event 1 only
        other = children.start("worker", url=replica_url, record=str(record), expect=3)
        children.wait(other, timeout=45)

        assert sorted(ev for ev, _ in record_lines(record, "done")) == ["1", "2", "3"]
        assert {d.state for d in bot.deliveries()} == {DeliveryState.DELIVERED}
    finally:
        bot.close()
