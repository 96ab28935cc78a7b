"""The store's leases: claims of deliveries and reminders, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from support import ALICE, T0

from crashbot_core import Crashbot, FixedClock
from crashbot_core.errors import LeaseLost
from crashbot_core.hookspecs import hookimpl
from crashbot_core.models import DeliveryState, Event, EventKind, Incident
from crashbot_core.store import Change
from crashbot_core.testing import Recorder, make_crashbot, registered
from crashbot_sqlalchemy.store import SqlStore

LEASE = T0 + timedelta(minutes=2)


@pytest.fixture
def store(replica_url: str) -> Iterator[SqlStore]:
    """A migrated store."""
    opened = SqlStore.from_url(replica_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def outbox(replica_url: str) -> Iterator[Crashbot]:
    """A service whose ``chat`` notifier is down: two incidents, three events each, undelivered."""

    class Down:
        @hookimpl
        def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
            raise RuntimeError("down")

    bot = make_crashbot(database_url=replica_url, clock=FixedClock(T0))
    with registered(bot.pm, Down(), "chat"):
        for title in ("A", "B"):
            inc = bot.declare(title, actor=ALICE)
            bot.update(inc.id, message="one")
            bot.update(inc.id, message="two")
    try:
        yield bot
    finally:
        bot.close()


def chat_rows(bot: Crashbot) -> dict[int, DeliveryState]:
    return {d.event_id: d.state for d in bot.deliveries() if d.plugin == "chat"}


def test_a_claim_takes_the_oldest_event_per_incident_and_plugin_once(outbox: Crashbot) -> None:
    store, later = outbox.store, T0 + timedelta(hours=1)

    first = store.claim_deliveries(later, owner="w1", lease_until=later + timedelta(minutes=2))
    second = store.claim_deliveries(later, owner="w2", lease_until=later + timedelta(minutes=2))

    # Events 1 and 4 opened the two incidents; 2, 3, 5, 6 wait behind them.
    assert [(d.event_id, d.plugin) for d in first if d.plugin == "chat"] == [
        (1, "chat"),
        (4, "chat"),
    ]
    assert [d for d in second if d.plugin == "chat"] == []


def test_an_expired_lease_is_taken_over(outbox: Crashbot) -> None:
    store, later = outbox.store, T0 + timedelta(hours=1)
    lease = timedelta(minutes=2)
    store.claim_deliveries(later, owner="dead", lease_until=later + lease)

    before = store.claim_deliveries(
        later + lease - timedelta(seconds=1), owner="w2", lease_until=later + 2 * lease
    )
    after = store.claim_deliveries(
        later + lease + timedelta(seconds=1), owner="w2", lease_until=later + 3 * lease
    )

    assert [d.event_id for d in before if d.plugin == "chat"] == []
    assert [d.event_id for d in after if d.plugin == "chat"] == [1, 4]


def test_a_failure_reported_after_losing_the_lease_changes_nothing(outbox: Crashbot) -> None:
    store, now = outbox.store, T0 + timedelta(hours=1)
    store.claim_deliveries(now, owner="slow", lease_until=now + timedelta(minutes=2))
    later = now + timedelta(minutes=3)
    store.claim_deliveries(later, owner="rescuer", lease_until=later + timedelta(minutes=2))

    assert not store.finish_delivery(
        1, "chat", DeliveryState.FAILED, owner="slow", at=later, error="x"
    )
    assert store.finish_delivery(1, "chat", DeliveryState.DELIVERED, owner="rescuer", at=later)
    # A success can never be undone, nor recorded twice.
    assert not store.finish_delivery(1, "chat", DeliveryState.DELIVERED, owner="slow", at=later)
    assert chat_rows(outbox)[1] is DeliveryState.DELIVERED


def test_later_events_wait_for_a_failed_one_that_is_not_due(outbox: Crashbot) -> None:
    rows = chat_rows(outbox)
    assert rows == {
        1: DeliveryState.FAILED,
        2: DeliveryState.PENDING,
        3: DeliveryState.PENDING,
        4: DeliveryState.FAILED,
        5: DeliveryState.PENDING,
        6: DeliveryState.PENDING,
    }
    # Before event 1's retry is due, nothing of either incident may go out.
    assert outbox.retry_deliveries() == 0


def test_released_claims_are_free_at_once(outbox: Crashbot) -> None:
    store, now = outbox.store, T0 + timedelta(hours=1)
    store.claim_deliveries(now, owner="w1", lease_until=now + timedelta(hours=1))
    store.release_deliveries([(1, "chat"), (4, "chat")], owner="w1")

    again = store.claim_deliveries(now, owner="w2", lease_until=now + timedelta(minutes=2))

    assert [d.event_id for d in again if d.plugin == "chat"] == [1, 4]


def test_count_deliveries_groups_by_plugin_and_state(outbox: Crashbot) -> None:
    counts = outbox.store.count_deliveries(states=[DeliveryState.FAILED, DeliveryState.PENDING])

    assert counts[("chat", DeliveryState.FAILED)] == 2
    assert counts[("chat", DeliveryState.PENDING)] == 4
    assert all(state in (DeliveryState.FAILED, DeliveryState.PENDING) for _, state in counts)


def test_the_worker_cannot_take_an_event_being_delivered_inline(replica_url: str) -> None:
    # The serving replica has committed and is inside the plugin call when a
    # worker (another replica) polls the outbox: the worker must get nothing.
    serving = make_crashbot(database_url=replica_url, clock=FixedClock(T0))
    worker = make_crashbot(database_url=replica_url, clock=FixedClock(T0))
    seen: list[int] = []

    class Slow:
        @hookimpl
        def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
            seen.append(event.id)
            assert worker.retry_deliveries() == 0

    try:
        slow = Slow()
        with registered(serving.pm, slow, "slow"), registered(worker.pm, slow, "slow"):
            serving.declare("Checkout down")
            assert worker.retry_deliveries() == 0
        assert seen == [1]
        assert {d.state for d in serving.deliveries()} == {DeliveryState.DELIVERED}
    finally:
        serving.close()
        worker.close()


def test_a_reminder_lease_is_won_once_and_taken_over_only_when_it_expires(
    store: SqlStore, outbox: Crashbot
) -> None:
    key, now = "1:unacknowledged:0", T0
    assert store.lease_reminder(key, 1, owner="w1", now=now, lease_until=LEASE)
    assert not store.lease_reminder(key, 1, owner="w2", now=now, lease_until=LEASE)
    # w1 died before sending; after its lease, w2 takes over and sends.
    later = LEASE + timedelta(seconds=1)
    assert store.lease_reminder(
        key, 1, owner="w2", now=later, lease_until=later + timedelta(minutes=2)
    )
    inc = store.get_incident(1)
    sent = Event(kind=EventKind.REMINDER_SENT, at=later, actor=ALICE, data={"key": key})
    with pytest.raises(LeaseLost):  # the dead worker lost it
        store.commit(Change(inc, inc.version, events=[sent], reminder=(key, "w1")))
    store.commit(Change(inc, inc.version, events=[sent], reminder=(key, "w2")))
    much_later = later + timedelta(days=1)
    assert not store.lease_reminder(key, 1, owner="w3", now=much_later, lease_until=much_later)


def test_a_reminder_plugin_that_raises_does_not_stop_the_others(outbox: Crashbot) -> None:
    class Broken:
        @hookimpl
        def crashbot_reminder(self, incident: Incident, reminder: object) -> None:
            raise RuntimeError("down")

    rec = Recorder()
    outbox.clock.advance(hours=8 * 24)  # type: ignore[attr-defined]
    with registered(outbox.pm, Broken(), "broken"), registered(outbox.pm, rec, "rec"):
        due = outbox.due_reminders()
        assert due
        assert all(outbox.send_reminder(inc, r) for inc, r in due)
        assert not any(outbox.send_reminder(inc, r) for inc, r in due)
    assert sorted(r.key for _, r in rec.reminders) == sorted(r.key for _, r in due)
