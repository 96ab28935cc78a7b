"""The outbox: delivery after commit, retries, order, subscriptions (crashbot_core.outbox).

Store-backed: they run on PostgreSQL too when ``CRASHBOT_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import ALICE, BOB, T0

from crashbot_core import (
    Crashbot,
    DeliveryState,
    Event,
    FixedClock,
    Incident,
    RetryAfter,
    RetryPolicy,
    hookimpl,
    subscribed_when,
)
from crashbot_core.models import EventKind
from crashbot_core.testing import Recorder, make_crashbot, registered


class Flaky:
    """A notifier whose chat API is down for the first ``failures`` calls."""

    def __init__(self, failures: int, exc: Exception | None = None) -> None:
        self.failures = failures
        self.exc = exc or RuntimeError("chat API is down")
        self.received: list[tuple[int, str]] = []

    @hookimpl
    def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise self.exc
        self.received.append((event.id, event.kind.value))


def test_a_failing_plugin_never_rolls_back_the_incident(bot: Crashbot) -> None:
    flaky, recorder = Flaky(failures=1), Recorder()
    with registered(bot.pm, flaky, "flaky"), registered(bot.pm, recorder, "recorder"):
        inc = bot.declare("DB down", actor=ALICE)
    assert bot.get(inc.id).title == "DB down"
    assert recorder.kinds == ["declared"]
    failed = bot.deliveries(failed_only=True)
    assert [(d.event_id, d.plugin, d.state, d.attempts) for d in failed] == [
        (1, "flaky", DeliveryState.FAILED, 1)
    ]
    assert failed[0].last_error == "RuntimeError: chat API is down"
    assert failed[0].next_attempt_at is not None and failed[0].next_attempt_at > T0


def test_retry_delivers_failed_events_once_and_in_order(bot: Crashbot, clock: FixedClock) -> None:
    flaky = Flaky(failures=1)
    with registered(bot.pm, flaky, "flaky"):
        inc = bot.declare("DB down", actor=ALICE)  # event 1 fails
        clock.advance(seconds=1)
        bot.acknowledge(inc.id, actor=BOB)  # event 2 must wait behind event 1
        bot.update(inc.id, message="looking")  # event 3 too
        assert flaky.received == []
        assert bot.retry_deliveries() == 0  # event 1 is not due yet: nothing jumps the queue
        assert flaky.received == []
        clock.advance(minutes=1)
        assert bot.retry_deliveries() == 3
        assert flaky.received == [(1, "declared"), (2, "acknowledged"), (3, "update_posted")]
        assert bot.retry_deliveries() == 0
        assert bot.deliveries(failed_only=True) == []
        states = {(d.event_id, d.plugin): d.state for d in bot.deliveries()}
        assert states[(1, "flaky")] is DeliveryState.DELIVERED
        # Later commands go straight through again.
        bot.resolve(inc.id)
        assert flaky.received[-1] == (4, "resolved")


def test_retry_after_is_honoured(bot: Crashbot, clock: FixedClock) -> None:
    flaky = Flaky(failures=1, exc=RetryAfter(120))
    with registered(bot.pm, flaky, "flaky"):
        bot.declare("DB down")
        (failed,) = bot.deliveries(failed_only=True)
        assert failed.next_attempt_at is not None
        assert failed.next_attempt_at >= T0 + timedelta(seconds=120)
        clock.advance(seconds=60)
        assert bot.retry_deliveries() == 0
        clock.advance(seconds=61)
        assert bot.retry_deliveries() == 1


def test_a_plugin_that_keeps_failing_is_given_up_after_the_horizon(
    bot: Crashbot, clock: FixedClock
) -> None:
    flaky = Flaky(failures=10**6)
    with registered(bot.pm, flaky, "flaky"):
        bot.declare("DB down")
        clock.advance(hours=25)
        assert bot.retry_deliveries() == 0
    (dead,) = bot.deliveries(failed_only=True)
    assert (dead.plugin, dead.state, dead.attempts) == ("flaky", DeliveryState.DEAD, 2)


def test_a_delivery_to_an_uninstalled_plugin_is_dead(bot: Crashbot, clock: FixedClock) -> None:
    with registered(bot.pm, Flaky(failures=1), "flaky"):
        bot.declare("DB down")
    clock.advance(minutes=5)
    assert bot.retry_deliveries() == 0
    (dead,) = bot.deliveries(failed_only=True)
    assert dead.state is DeliveryState.DEAD
    assert dead.last_error == "plugin is no longer installed"


class Switchable:
    """A notifier that subscribes only while ``configured`` is set."""

    def __init__(self, configured: bool) -> None:
        self.configured = configured
        self.received: list[str] = []

        @subscribed_when(lambda _crashbot: self.configured)
        def crashbot_incident_event(event: Event) -> None:
            self.received.append(event.kind.value)

        self.crashbot_incident_event = hookimpl(crashbot_incident_event)


def test_an_unconfigured_plugin_gets_no_deliveries(bot: Crashbot) -> None:
    inert, recorder = Switchable(configured=False), Recorder()
    with registered(bot.pm, inert, "inert"), registered(bot.pm, recorder, "recorder"):
        inc = bot.declare("DB down", actor=ALICE)
        bot.acknowledge(inc.id, actor=BOB)
        assert inert.received == []
        assert recorder.kinds == ["declared", "acknowledged"]
        assert {d.plugin for d in bot.deliveries()} == {"recorder"}
        # Configured later: it gets what happens from then on, never the past.
        inert.configured = True
        bot.update(inc.id, message="looking")
        assert inert.received == ["update_posted"]
        assert bot.retry_deliveries() == 0
        assert inert.received == ["update_posted"]
        assert bot.deliveries(failed_only=True) == []


class SwitchableFlaky(Flaky):
    """A :class:`Flaky` notifier that subscribes only while ``configured`` is set."""

    def __init__(self, failures: int) -> None:
        super().__init__(failures)
        self.configured = True

        @subscribed_when(lambda _crashbot: self.configured)
        def crashbot_incident_event(incident: Incident, event: Event) -> None:
            Flaky.crashbot_incident_event(self, incident, event)

        self.crashbot_incident_event = hookimpl(crashbot_incident_event)  # type: ignore[method-assign]


def test_a_plugin_configured_away_still_gets_its_recorded_retries(
    bot: Crashbot, clock: FixedClock
) -> None:
    flaky = SwitchableFlaky(failures=1)
    with registered(bot.pm, flaky, "flaky"):
        inc = bot.declare("DB down")  # recorded, fails
        flaky.configured = False
        bot.acknowledge(inc.id)  # not recorded for flaky
        clock.advance(minutes=1)
        assert bot.retry_deliveries() == 1
        assert flaky.received == [(1, "declared")]


def test_a_failing_subscription_check_keeps_the_plugin_subscribed(
    bot: Crashbot, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_crashbot: Crashbot) -> bool:
        raise KeyError("settings")

    received: list[str] = []

    class Plugin:
        @hookimpl
        @subscribed_when(broken)
        def crashbot_incident_event(self, event: Event) -> None:
            received.append(event.kind.value)

    with registered(bot.pm, Plugin(), "careful"):
        bot.declare("DB down")
    assert received == ["declared"]
    assert "subscribed_when of plugin careful failed" in caplog.text


def test_builtin_plugins_subscribe_only_when_configured(tmp_path: Path) -> None:
    idle = make_crashbot(tmp_path)
    try:
        idle.declare("Nothing set up")
        assert idle.deliveries() == []
    finally:
        idle.close()
    (tmp_path / "busy").mkdir()
    closed_port = "http://127.0.0.1:9/"  # refused at once: every delivery fails fast
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_API_URL": closed_port,
        "DISCORD_WEBHOOK_URL": closed_port + "hook",
    }
    busy = make_crashbot(
        tmp_path / "busy", env=env, config={"postmortem": {"export_on_resolve": ["markdown"]}}
    )
    try:
        busy.declare("Everything set up")
        assert sorted(d.plugin for d in busy.deliveries()) == ["discord", "markdown", "slack"]
    finally:
        busy.close()


# --------------------------------------------------------------------------- store and config


# --------------------------------------------------------------------------- reminders


class DownPager:
    """A reminder plugin whose chat API is down for the first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[str] = []

    @hookimpl
    def crashbot_reminder(self, incident: Incident, reminder: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("chat API is down")
        self.received.append(reminder.key)


def test_a_reminder_that_failed_in_a_chat_outage_is_retried_and_sent_once(
    bot: Crashbot, clock: FixedClock
) -> None:
    bot.retry_policy = RetryPolicy(base=timedelta(seconds=10), jitter=0)
    bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    clock.advance(minutes=31)  # the first update is overdue
    pager, rec = DownPager(failures=2), Recorder()
    with registered(bot.pm, pager, "pager"), registered(bot.pm, rec, "rec"):
        incident, reminder = bot.due_reminders()[0]
        assert bot.send_reminder(incident, reminder)
        assert not bot.send_reminder(incident, reminder)  # recorded once
        assert pager.received == []  # the outage: not delivered, not counted as sent
        failed = bot.deliveries(failed_only=True)
        assert [(d.plugin, d.attempts) for d in failed] == [("pager", 1)]

        clock.advance(seconds=10)
        bot.retry_deliveries()  # still down
        clock.advance(seconds=20)
        bot.retry_deliveries()  # back
        clock.advance(minutes=5)
        bot.retry_deliveries()  # nothing left to send

    assert pager.received == [reminder.key]
    assert [r.key for _, r in rec.reminders] == [reminder.key]  # the other plugin: at once
    sent = [e for e in bot.timeline(incident.id) if e.kind is EventKind.REMINDER_SENT]
    assert [e.data["key"] for e in sent] == [reminder.key]


def test_two_workers_racing_over_due_reminders_send_each_once(
    database_url: str, clock: FixedClock
) -> None:
    a = make_crashbot(database_url=database_url, clock=clock)
    b = make_crashbot(database_url=database_url, clock=clock)
    rec_a, rec_b = Recorder(), Recorder()
    try:
        for n in range(6):
            a.declare(f"Outage {n}", severity="SEV1", actor=ALICE)
        clock.advance(minutes=31)
        with registered(a.pm, rec_a, "rec"), registered(b.pm, rec_b, "rec"):
            start = threading.Barrier(2)

            def round_(bot: Crashbot) -> int:
                start.wait()
                return sum(bot.send_reminder(i, r) for i, r in bot.due_reminders())

            with ThreadPoolExecutor(2) as pool:
                sent = sum(pool.map(round_, [a, b]))
            # A reminder recorded by b behind a's on the same incident waits for
            # it (per-incident order): the workers' next rounds deliver it.
            a.retry_deliveries()
            b.retry_deliveries()
        keys = [r.key for _, r in rec_a.reminders + rec_b.reminders]
        events = [
            e for n in range(1, 7) for e in a.timeline(n) if e.kind is EventKind.REMINDER_SENT
        ]
    finally:
        a.close()
        b.close()

    assert sorted(keys) == sorted(set(keys)), sorted(keys)
    assert len(keys) == sent == len(events) >= 6
