"""Correcting the record: edits (audited, times in order) and retrospective incidents."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ALICE, BOB, T0

from crashbot_core import Crashbot, FixedClock
from crashbot_core.edits import TIME_FIELDS, check_times, edit
from crashbot_core.errors import IllegalTransition, InvalidInput
from crashbot_core.lifecycle import StateConflict
from crashbot_core.models import RETROSPECTIVE_REF, EventKind, Impact, Incident, Status
from crashbot_core.testing import Recorder, registered


def _edits(bot: Crashbot, incident_id: int) -> list[tuple[str, str, object, object]]:
    return [
        (e.actor.id, e.data["field"], e.data["from"], e.data["to"])
        for e in bot.timeline(incident_id)
        if e.kind is EventKind.EDITED
    ]


def test_each_edited_field_is_an_internal_event_naming_who_old_and_new(
    bot: Crashbot, clock: FixedClock
) -> None:
    inc = bot.declare("Checkout slow", components=["api"], actor=ALICE)
    clock.advance(minutes=30)

    edited = bot.edit(
        inc.id,
        actor=BOB,
        title="Checkout down",
        components={"web": "major"},
        remove_components=["api"],
        started_at=T0 - timedelta(minutes=10),
    )

    assert edited.title == "Checkout down"
    assert edited.components == {"web": Impact.MAJOR_OUTAGE}
    assert edited.started_at == T0 - timedelta(minutes=10)
    assert _edits(bot, inc.id) == [
        ("bob", "title", "Checkout slow", "Checkout down"),
        ("bob", "components", {"api": "degraded_performance"}, {"web": "major_outage"}),
        ("bob", "started_at", "2026-03-02T09:00:00Z", "2026-03-02T08:50:00Z"),
    ]
    assert not any(e.public for e in bot.timeline(inc.id) if e.kind is EventKind.EDITED)


def test_times_out_of_order_name_the_rule(bot: Crashbot, clock: FixedClock) -> None:
    inc = bot.declare("Checkout slow", actor=ALICE)
    clock.advance(minutes=5)
    bot.acknowledge(inc.id)
    clock.advance(minutes=30)

    with pytest.raises(InvalidInput, match=r"acknowledged_at .* is before detected_at") as err:
        bot.edit(inc.id, detected_at=T0 + timedelta(minutes=10))

    assert "started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved" in err.value.message
    assert err.value.http_status == 422
    assert _edits(bot, inc.id) == []


def test_a_time_in_the_future_is_refused(bot: Crashbot) -> None:
    inc = bot.declare("Checkout slow", actor=ALICE)

    with pytest.raises(StateConflict, match="in the future"):
        bot.edit(inc.id, started_at=T0 + timedelta(minutes=1))


def test_resolved_at_is_edited_only_on_a_resolved_incident(bot: Crashbot) -> None:
    inc = bot.declare("Checkout slow", actor=ALICE)

    with pytest.raises(IllegalTransition, match="it is not resolved"):
        bot.edit(inc.id, resolved_at=T0)


def test_an_edit_that_changes_nothing_is_a_conflict(bot: Crashbot) -> None:
    inc = bot.declare("Checkout slow", actor=ALICE)

    with pytest.raises(StateConflict, match="nothing changed"):
        bot.edit(inc.id, title="Checkout slow")
    with pytest.raises(InvalidInput, match="nothing to edit"):
        bot.edit(inc.id)
    with pytest.raises(InvalidInput, match="has no component 'db' to remove"):
        bot.edit(inc.id, remove_components=["db"])


def test_a_retrospective_incident_is_stored_resolved_and_pages_nobody(
    bot: Crashbot, clock: FixedClock
) -> None:
    clock.advance(days=2)
    recorder = Recorder()

    with registered(bot.pm, recorder):
        inc = bot.declare_retrospective(
            "Checkout down overnight",
            severity="SEV1",
            started_at=T0,
            detected_at=T0 + timedelta(minutes=5),
            acknowledged_at=T0 + timedelta(minutes=10),
            mitigated_at=T0 + timedelta(minutes=40),
            resolved_at=T0 + timedelta(hours=1),
            actor=ALICE,
        )

    assert (inc.status, inc.resolved_at, inc.detected) == (
        Status.RESOLVED,
        T0 + timedelta(hours=1),
        T0 + timedelta(minutes=5),
    )
    assert RETROSPECTIVE_REF in inc.refs
    assert recorder.kinds == ["recorded"]
    clock.advance(days=5)
    assert bot.due_reminders() == []


def test_a_retrospective_incident_with_times_out_of_order_is_refused(
    bot: Crashbot, clock: FixedClock
) -> None:
    clock.advance(days=1)

    with pytest.raises(InvalidInput, match=r"resolved_at .* is before mitigated_at"):
        bot.declare_retrospective(
            "Checkout down",
            started_at=T0,
            mitigated_at=T0 + timedelta(hours=2),
            resolved_at=T0 + timedelta(hours=1),
        )
    with pytest.raises(InvalidInput, match=r"detected_at .* is before started_at"):
        bot.declare_retrospective(
            "Checkout down",
            started_at=T0,
            detected_at=T0 - timedelta(minutes=1),
            resolved_at=T0 + timedelta(hours=1),
        )
    assert bot.list() == []


# -- the time-order rule, as a property ----------------------------------------------

_NOW = T0 + timedelta(days=1)
_offsets = st.one_of(st.none(), st.integers(min_value=0, max_value=600))


def _incident() -> Incident:
    return Incident(
        id=1,
        ref="INC-1",
        title="Checkout down",
        severity="SEV2",
        status=Status.RESOLVED,
        declared_at=T0 + timedelta(minutes=100),
        started_at=T0 + timedelta(minutes=100),
        acknowledged_at=T0 + timedelta(minutes=200),
        mitigated_at=T0 + timedelta(minutes=300),
        resolved_at=T0 + timedelta(minutes=400),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({name: _offsets for name in TIME_FIELDS}))
def test_an_edit_is_accepted_exactly_when_the_times_stay_in_order(
    offsets: dict[str, int | None],
) -> None:
    before = _incident()
    times = {k: T0 + timedelta(minutes=v) for k, v in offsets.items() if v is not None}
    current: dict[str, datetime] = {
        "started_at": before.started_at,
        "detected_at": before.detected,
        "acknowledged_at": before.acknowledged_at or _NOW,
        "mitigated_at": before.mitigated_at or _NOW,
        "resolved_at": before.resolved_at or _NOW,
    }
    merged = {**current, **times}
    in_order = all(merged[a] <= merged[b] for a, b in itertools.pairwise(TIME_FIELDS))
    # detected_at is unset (it reads as the declare time), so giving it is a change.
    changed = {k for k, v in times.items() if getattr(before, k) != v}

    if not changed:
        with pytest.raises(InvalidInput, match=r"nothing to edit|nothing changed"):
            edit(before, actor=ALICE, now=_NOW, times=times)
    elif not in_order:
        with pytest.raises(InvalidInput, match="times must keep the order") as err:
            edit(before, actor=ALICE, now=_NOW, times=times)
        assert err.value.http_status == 422
    else:
        after, events = edit(before, actor=ALICE, now=_NOW, times=times)
        assert {e.data["field"] for e in events} == changed
        assert {k: getattr(after, k) for k in changed} == {k: times[k] for k in changed}
        check_times({k: getattr(after, k) for k in TIME_FIELDS}, _NOW)


def test_the_postmortem_timeline_describes_corrections(bot: Crashbot, clock: FixedClock) -> None:
    from crashbot_core.postmortem import describe_event

    original = bot.declare("Checkout down", actor=ALICE)
    dup = bot.declare("Checkout slow", actor=ALICE)
    clock.advance(minutes=5)
    bot.edit(dup.id, title="Checkout 500s", actor=BOB)
    bot.close_incident(dup.id, "duplicate", duplicate_of=original.id, message="same deploy")

    lines = [describe_event(e) for e in bot.timeline(dup.id)[1:]]
    merged = describe_event(bot.timeline(original.id)[-1])

    assert lines == [
        "Corrected title: Checkout slow → Checkout 500s",
        f"Closed as a duplicate of {original.ref}: same deploy",
    ]
    assert merged == f"{dup.ref} merged in as a duplicate (0 alerts, 0 follow-ups)"
