"""Scheduled maintenance in the core: schedule, update, start, complete, cancel, timed by the worker."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from support import ALICE, T0

from crashbot_core import Crashbot, FixedClock
from crashbot_core.errors import IllegalTransition, InvalidInput, NotFound
from crashbot_core.hookspecs import hookimpl
from crashbot_core.models import Maintenance, MaintenanceStatus, MaintenanceUpdate
from crashbot_core.testing import registered
from crashbot_core.worker import Worker

HOUR = timedelta(hours=1)


class Heard:
    """Records ``crashbot_maintenance_event`` calls."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str, str]] = []

    @hookimpl
    def crashbot_maintenance_event(
        self, maintenance: Maintenance, update: MaintenanceUpdate
    ) -> None:
        self.updates.append((maintenance.ref, update.status.value, update.body))


def _schedule(bot: Crashbot, **kw: Any) -> Maintenance:
    args: dict[str, Any] = {
        "starts_at": T0 + HOUR,
        "ends_at": T0 + 3 * HOUR,
        "components": ["db"],
        "actor": ALICE,
    }
    args.update(kw)
    return bot.schedule_maintenance("Database upgrade", **args)


def test_scheduling_stores_the_window_and_a_first_public_update(bot: Crashbot) -> None:
    m = _schedule(bot, message="Writes pause for two hours.")

    got = bot.get_maintenance("MNT-1")
    assert got == m
    assert (got.ref, got.status, got.components, got.auto) == (
        "MNT-1",
        MaintenanceStatus.SCHEDULED,
        ("db",),
        True,
    )
    assert [(u.status.value, u.body) for u in got.updates] == [
        ("scheduled", "Writes pause for two hours.")
    ]
    assert got.created_by == ALICE


def test_scheduling_without_a_message_uses_the_configured_sentence(bot: Crashbot) -> None:
    m = _schedule(bot)

    assert m.updates[0].body == bot.config.maintenance.scheduled_message


@pytest.mark.parametrize(
    ("starts", "ends", "says"),
    [
        (3, 1, "ends"),
        (-5, -1, "ended already"),
    ],
)
def test_a_window_that_ends_before_it_starts_or_has_ended_is_refused(
    bot: Crashbot, starts: int, ends: int, says: str
) -> None:
    with pytest.raises(InvalidInput, match=says):
        _schedule(bot, starts_at=T0 + starts * HOUR, ends_at=T0 + ends * HOUR)
    assert bot.list_maintenances() == []


def test_an_empty_title_or_a_bad_component_key_is_refused(bot: Crashbot) -> None:
    with pytest.raises(InvalidInput, match="title"):
        bot.schedule_maintenance(" ", starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR)
    with pytest.raises(InvalidInput, match="component"):
        _schedule(bot, components=["Not A Key!"])


def test_a_person_starts_early_verifies_and_completes(bot: Crashbot, clock: FixedClock) -> None:
    _schedule(bot)
    clock.advance(minutes=30)

    started = bot.start_maintenance("mnt-1", actor=ALICE)
    clock.advance(minutes=30)
    verifying = bot.update_maintenance(1, status="verifying", actor=ALICE)
    clock.advance(minutes=10)
    done = bot.complete_maintenance("#1", actor=ALICE, message="All done, writes are back.")

    assert started.started_at == T0 + timedelta(minutes=30)
    assert verifying.status is MaintenanceStatus.VERIFYING
    assert done.status is MaintenanceStatus.COMPLETED
    assert done.completed_at == T0 + timedelta(minutes=70)
    assert [u.status.value for u in done.updates] == [
        "scheduled",
        "in_progress",
        "verifying",
        "completed",
    ]
    assert done.updates[1].body == bot.config.maintenance.start_message
    assert done.updates[-1].body == "All done, writes are back."


def test_illegal_steps_say_what_the_maintenance_is(bot: Crashbot) -> None:
    _schedule(bot)

    with pytest.raises(IllegalTransition, match="cannot complete MNT-1: it is scheduled"):
        bot.complete_maintenance(1)
    bot.cancel_maintenance(1, message="Postponed to next week.")
    with pytest.raises(IllegalTransition, match="cannot start MNT-1: it is cancelled"):
        bot.start_maintenance(1)
    with pytest.raises(IllegalTransition):
        bot.update_maintenance(1, message="still there?")
    assert bot.get_maintenance(1).updates[-1].body == "Postponed to next week."


def test_an_update_can_reschedule_rename_and_post_a_message(
    bot: Crashbot, clock: FixedClock
) -> None:
    _schedule(bot)
    clock.advance(minutes=5)

    m = bot.update_maintenance(
        1,
        starts_at=T0 + 2 * HOUR,
        ends_at=T0 + 4 * HOUR,
        title="Database upgrade (v16)",
        components=["db", "api"],
    )

    assert (m.scheduled_for, m.scheduled_until) == (T0 + 2 * HOUR, T0 + 4 * HOUR)
    assert (m.title, m.components) == ("Database upgrade (v16)", ("db", "api"))
    assert m.updates[-1].body.startswith("Rescheduled: 2026-03-02 11:00 to 2026-03-02 13:00")
    with pytest.raises(InvalidInput, match="nothing to change"):
        bot.update_maintenance(1)


def test_a_missing_maintenance_is_not_found(bot: Crashbot) -> None:
    with pytest.raises(NotFound, match="MNT-7"):
        bot.get_maintenance("MNT-7")
    with pytest.raises(NotFound):
        bot.start_maintenance("INC-1")


def test_the_worker_starts_and_completes_on_time_with_the_configured_messages(
    bot: Crashbot, clock: FixedClock
) -> None:
    _schedule(bot)
    worker = Worker(bot)

    assert worker.run_once().maintenances == 0
    clock.advance(hours=1)
    assert worker.run_once().maintenances == 1
    assert bot.get_maintenance(1).status is MaintenanceStatus.IN_PROGRESS
    assert worker.run_once().maintenances == 0
    clock.advance(hours=2)
    assert worker.run_once().maintenances == 1

    m = bot.get_maintenance(1)
    assert m.status is MaintenanceStatus.COMPLETED
    assert [(u.status.value, u.body) for u in m.updates[1:]] == [
        ("in_progress", bot.config.maintenance.start_message),
        ("completed", bot.config.maintenance.complete_message),
    ]
    assert (m.started_at, m.completed_at) == (T0 + HOUR, T0 + 3 * HOUR)


def test_a_missed_window_is_started_and_completed_in_one_round(
    bot: Crashbot, clock: FixedClock
) -> None:
    _schedule(bot)
    clock.advance(hours=5)

    moved = bot.run_due_maintenances()

    assert [m.status.value for m in moved] == ["in_progress", "completed"]


def test_a_manual_maintenance_waits_for_a_person(bot: Crashbot, clock: FixedClock) -> None:
    _schedule(bot, auto=False)
    clock.advance(hours=5)

    assert bot.run_due_maintenances() == []
    assert bot.get_maintenance(1).status is MaintenanceStatus.SCHEDULED


def test_racing_workers_start_a_maintenance_exactly_once(
    two_bots: tuple[Crashbot, Crashbot], clock: FixedClock
) -> None:
    a, b = two_bots
    _schedule(a)
    clock.advance(hours=1)
    heard = Heard()
    moved: list[int] = []
    gate = threading.Barrier(2)

    def round_of(bot: Crashbot) -> None:
        gate.wait()
        moved.append(len(bot.run_due_maintenances()))

    with registered(a.pm, heard), registered(b.pm, Heard()):
        threads = [threading.Thread(target=round_of, args=(bot,)) for bot in (a, b)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    m = a.get_maintenance(1)
    assert sorted(moved) == [0, 1]
    assert [u.status.value for u in m.updates] == ["scheduled", "in_progress"]


def test_every_new_update_is_told_to_maintenance_event_plugins(
    bot: Crashbot, clock: FixedClock
) -> None:
    heard = Heard()
    with registered(bot.pm, heard):
        _schedule(bot, message="Planned.")
        bot.update_maintenance(1, message="Still on.")
        clock.advance(hours=1)
        bot.run_due_maintenances()
        bot.complete_maintenance(1)

    assert heard.updates == [
        ("MNT-1", "scheduled", "Planned."),
        ("MNT-1", "scheduled", "Still on."),
        ("MNT-1", "in_progress", bot.config.maintenance.start_message),
        ("MNT-1", "completed", bot.config.maintenance.complete_message),
    ]


def test_a_failing_listener_does_not_undo_the_save(bot: Crashbot) -> None:
    class Broken:
        @hookimpl
        def crashbot_maintenance_event(self) -> None:
            raise RuntimeError("mail server down")

    with registered(bot.pm, Broken()):
        m = _schedule(bot)

    assert bot.get_maintenance(m.id).status is MaintenanceStatus.SCHEDULED


def test_maintenances_count_in_no_incident_metric(bot: Crashbot, clock: FixedClock) -> None:
    _schedule(bot)
    clock.advance(hours=4)
    bot.run_due_maintenances()

    report = bot.metrics(since=timedelta(days=1))

    assert report.to_dict()["counts"]["total"] == 0
    assert bot.list() == []
