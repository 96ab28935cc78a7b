"""How an incident ends: invalid, or a duplicate merged into its original."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import ALICE, BOB, alert

from crashbot_core import Crashbot, FixedClock
from crashbot_core.errors import InvalidInput, NotFound
from crashbot_core.models import EventKind, Resolution, Status
from crashbot_core.store import IncidentFilter
from crashbot_core.testing import Recorder, registered


def test_closing_as_invalid_keeps_status_resolved_and_stops_counting(bot: Crashbot) -> None:
    inc = bot.declare("Pager test", severity="SEV2", actor=ALICE)

    closed = bot.close_incident(inc.id, "invalid", actor=BOB, message="a test page")

    assert (closed.status, closed.resolution, closed.counts) == (
        Status.RESOLVED,
        Resolution.INVALID,
        False,
    )
    assert closed.resolved_at == bot.now()
    last = bot.timeline(inc.id)[-1]
    assert (last.kind, last.actor.id, last.public) == (EventKind.CLOSED, "bob", False)
    assert last.data["resolution"] == "invalid"
    assert last.data["message"] == "a test page"


def test_a_resolved_incident_found_to_be_a_false_alarm_keeps_its_resolve_time(
    bot: Crashbot, clock: FixedClock
) -> None:
    inc = bot.declare("Checkout down", actor=ALICE)
    resolved = bot.resolve(inc.id, actor=ALICE)
    clock.advance(hours=3)

    closed = bot.close_incident(inc.id, "invalid", actor=ALICE)

    assert closed.resolved_at == resolved.resolved_at
    assert closed.resolution is Resolution.INVALID


def test_closing_twice_is_refused_until_reopened(bot: Crashbot) -> None:
    inc = bot.declare("Pager test", actor=ALICE)
    bot.close_incident(inc.id, "invalid")

    with pytest.raises(InvalidInput, match="closed as invalid already") as again:
        bot.close_incident(inc.id, "invalid")
    reopened = bot.reopen(inc.id)

    assert again.value.http_status == 409
    assert (reopened.resolution, reopened.counts) == (None, True)


def test_an_unknown_resolution_is_refused(bot: Crashbot) -> None:
    inc = bot.declare("Pager test", actor=ALICE)

    with pytest.raises(InvalidInput, match="close as invalid or duplicate"):
        bot.close_incident(inc.id, "resolved")


def test_a_duplicate_moves_its_alerts_and_follow_ups_to_the_original(bot: Crashbot) -> None:
    original = bot.declare("Checkout down", actor=ALICE)
    dup = bot.ingest_alert(alert("checkout-5xx")).incident
    assert dup is not None
    follow_up = bot.add_follow_up(dup.id, "Add a canary", actor=ALICE)

    closed = bot.close_incident(
        dup.id, "duplicate", duplicate_of=original.ref, actor=BOB, message="same"
    )

    assert (closed.resolution, closed.duplicate_of, closed.status) == (
        Resolution.DUPLICATE,
        original.id,
        Status.RESOLVED,
    )
    assert [a.fingerprint for a in bot.store.alerts(original.id)] == ["checkout-5xx"]
    assert bot.store.alerts(dup.id) == []
    assert [f.id for f in bot.follow_ups(original.id)] == [follow_up.id]
    assert bot.follow_ups(dup.id) == []
    closed_event = bot.timeline(dup.id)[-1]
    assert closed_event.kind is EventKind.CLOSED
    assert closed_event.data["original_ref"] == original.ref
    merged = bot.timeline(original.id)[-1]
    assert merged.kind is EventKind.MERGED
    assert (merged.data["duplicate_ref"], merged.data["alerts"], merged.data["follow_ups"]) == (
        dup.ref,
        1,
        1,
    )
    assert bot.get(original.id).version == original.version + 1


def test_an_alert_firing_again_after_the_merge_goes_to_the_original(bot: Crashbot) -> None:
    original = bot.declare("Checkout down", actor=ALICE)
    dup = bot.ingest_alert(alert("checkout-5xx")).incident
    assert dup is not None
    bot.close_incident(dup.id, "duplicate", duplicate_of=original.id)

    again = bot.ingest_alert(alert("checkout-5xx")).incident

    assert again is not None and again.id == original.id


def test_both_incidents_hear_of_the_merge(bot: Crashbot) -> None:
    original = bot.declare("Checkout down", actor=ALICE)
    dup = bot.declare("Checkout 500s", actor=BOB)
    recorder = Recorder()

    with registered(bot.pm, recorder):
        bot.close_incident(dup.id, "duplicate", duplicate_of=original.id)

    assert [(i.id, e.kind) for i, e in recorder.events] == [
        (dup.id, EventKind.CLOSED),
        (original.id, EventKind.MERGED),
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("itself", "cannot be a duplicate of itself"),
        ("chain", "is itself a duplicate of"),
        ("invalid", "is closed as invalid"),
        ("merged_into", "other incidents were merged into"),
    ],
)
def test_merges_that_would_chain_or_loop_are_refused(
    bot: Crashbot, setup: str, message: str
) -> None:
    a = bot.declare("A", actor=ALICE)
    b = bot.declare("B", actor=ALICE)
    c = bot.declare("C", actor=ALICE)
    target = b.id
    if setup == "itself":
        target = a.id
    elif setup == "chain":
        bot.close_incident(b.id, "duplicate", duplicate_of=c.id)
    elif setup == "invalid":
        bot.close_incident(b.id, "invalid")
    else:
        bot.close_incident(c.id, "duplicate", duplicate_of=a.id)

    with pytest.raises(InvalidInput, match=message):
        bot.close_incident(a.id, "duplicate", duplicate_of=target)

    assert bot.get(a.id).resolution is None


def test_a_duplicate_of_an_unknown_incident_is_not_found(bot: Crashbot) -> None:
    inc = bot.declare("A", actor=ALICE)

    with pytest.raises(NotFound, match="no incident INC-999"):
        bot.close_incident(inc.id, "duplicate", duplicate_of=999)
    with pytest.raises(InvalidInput, match="say which incident it duplicates"):
        bot.close_incident(inc.id, "duplicate")


def test_listing_can_leave_out_incidents_that_do_not_count(bot: Crashbot) -> None:
    kept = bot.declare("Real", actor=ALICE)
    bot.close_incident(bot.declare("Test page", actor=ALICE).id, "invalid")
    bot.close_incident(bot.declare("Dup", actor=ALICE).id, "duplicate", duplicate_of=kept.id)

    counting = bot.list(IncidentFilter(counts=True))
    ended = bot.list(IncidentFilter(counts=False))

    assert [i.id for i in counting] == [kept.id]
    assert sorted(i.title for i in ended) == ["Dup", "Test page"]


def test_a_closed_sev1_gets_no_missing_rca_reminder(bot: Crashbot, clock: FixedClock) -> None:
    kept = bot.declare("Real", severity="SEV1", actor=ALICE)
    bot.resolve(kept.id)
    bot.close_incident(bot.declare("Test page", severity="SEV1", actor=ALICE).id, "invalid")
    clock.advance(timedelta(days=3))

    due = [(i.id, r.kind.value) for i, r in bot.due_reminders()]

    assert due == [(kept.id, "missing_rca")]
