"""Reminder scheduling: which nudges, escalations and RCA reminders are due, and when."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashbot_core.models import Actor, FollowUp, Incident, Reminder, ReminderKind, Status
from crashbot_core.schedule import due_reminders, overdue_follow_ups
from crashbot_core.severity import DEFAULT_POLICY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


def make(
    id: int = 42,
    *,
    severity: str = "SEV1",
    status: Status = Status.INVESTIGATING,
    declared: datetime = T0,
    acked: bool = True,
    last_update: datetime | None = None,
    resolved: datetime | None = None,
    rca_url: str | None = None,
) -> Incident:
    """An incident declared (and started) at ``declared``, acknowledged a minute later."""
    return Incident(
        id=id,
        ref=f"INC-{id}",
        title="checkout is down",
        severity=severity,
        status=status,
        declared_at=declared,
        started_at=declared,
        acknowledged_at=declared + M if acked else None,
        last_update_at=last_update,
        resolved_at=resolved,
        rca_url=rca_url,
    )


def due(incidents: list[Incident], now: datetime, **kwargs: timedelta) -> list[Reminder]:
    return due_reminders(incidents, now, DEFAULT_POLICY, **kwargs)


def kinds(reminders: list[Reminder]) -> list[ReminderKind]:
    return [r.kind for r in reminders]


# ------------------------------------------------------------------ update overdue


def test_update_nudge_is_not_due_at_29m59s_and_due_at_30m() -> None:
    incident = make()

    assert due([incident], T0 + 30 * M - S) == []
    [reminder] = due([incident], T0 + 30 * M)

    assert reminder.kind is ReminderKind.UPDATE_OVERDUE
    assert reminder.due_at == T0 + 30 * M
    assert reminder.key == f"42:update_overdue:{T0.isoformat()}:0"
    assert reminder.message.startswith("INC-42 (SEV1) has had no update for 30m; post an update")


def test_second_update_nudge_comes_25_minutes_after_the_first() -> None:
    incident = make()

    [first] = due([incident], T0 + 55 * M - S)
    [second] = due([incident], T0 + 55 * M)

    assert first.key.endswith(":0")
    assert second.key == f"42:update_overdue:{T0.isoformat()}:1"
    assert second.due_at == T0 + 55 * M
    assert "no update for 55m" in second.message


def test_a_worker_back_after_hours_gets_only_the_latest_nudge_not_a_backlog() -> None:
    reminders = due([make()], T0 + 3 * H)

    # 30m + k*25m <= 180m  ->  k = 6, due at 180m exactly.
    assert len(reminders) == 1
    assert reminders[0].key.endswith(":6")
    assert reminders[0].due_at == T0 + 3 * H


def test_update_nudge_key_is_stable_until_the_next_occurrence() -> None:
    incident = make()

    keys = {due([incident], T0 + 30 * M + n * M)[0].key for n in range(25)}

    assert keys == {f"42:update_overdue:{T0.isoformat()}:0"}


def test_posting_an_update_resets_the_nudge_series() -> None:
    updated_at = T0 + 40 * M
    incident = make(last_update=updated_at)

    assert due([incident], updated_at + 30 * M - S) == []
    [reminder] = due([incident], updated_at + 30 * M)

    assert reminder.key == f"42:update_overdue:{updated_at.isoformat()}:0"
    assert reminder.due_at == T0 + 70 * M


def test_keys_are_written_in_utc_whatever_offset_the_store_returns() -> None:
    plus_two = timezone(timedelta(hours=2))
    in_utc = make()
    elsewhere = make(declared=T0.astimezone(plus_two))

    assert due([in_utc], T0 + H)[0].key == due([elsewhere], T0 + H)[0].key


@pytest.mark.parametrize("severity", ["SEV3", "SEV4"])
def test_no_update_nudges_for_sev3_and_sev4(severity: str) -> None:
    assert due([make(severity=severity)], T0 + 6 * D) == []


def test_resolved_incident_gets_no_update_nudge() -> None:
    resolved = make(severity="SEV3", status=Status.RESOLVED, resolved=T0 + H)

    assert due([resolved], T0 + 5 * H) == []


# ------------------------------------------------------------------ escalation


def test_unacknowledged_sev1_escalates_at_its_five_minute_response_target() -> None:
    incident = make(acked=False)

    assert due([incident], T0 + 5 * M - S) == []
    [reminder] = due([incident], T0 + 5 * M)

    assert reminder.kind is ReminderKind.UNACKNOWLEDGED
    assert reminder.key == "42:unacknowledged"
    assert reminder.due_at == T0 + 5 * M
    assert "INC-42 (SEV1) is still unacknowledged past its response target (5m)" in (
        reminder.message
    )


def test_escalation_key_stays_the_same_so_it_fires_once() -> None:
    incident = make(severity="SEV3", acked=False)

    at_target = due([incident], T0 + 2 * H)
    later = due([incident], T0 + 5 * H)

    assert [r.key for r in at_target] == [r.key for r in later] == ["42:unacknowledged"]


def test_unacknowledged_sev4_from_friday_escalates_after_monday() -> None:
    friday = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    incident = make(severity="SEV4", declared=friday, acked=False)
    monday_end = datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)

    assert due([incident], monday_end - S) == []
    [reminder] = due([incident], monday_end)

    assert reminder.kind is ReminderKind.UNACKNOWLEDGED
    assert "next business day" in reminder.message


def test_acknowledged_incident_is_not_escalated() -> None:
    assert ReminderKind.UNACKNOWLEDGED not in kinds(due([make()], T0 + H))


# ------------------------------------------------------------------ stale


def test_open_incident_is_stale_after_seven_days_and_again_every_seven() -> None:
    incident = make(severity="SEV4")

    assert due([incident], T0 + 7 * D - S) == []
    [first] = due([incident], T0 + 7 * D)
    [second] = due([incident], T0 + 14 * D + H)

    assert first.kind is ReminderKind.STALE
    assert (first.key, first.due_at) == ("42:stale:0", T0 + 7 * D)
    assert (second.key, second.due_at) == ("42:stale:1", T0 + 14 * D)
    assert "INC-42 has been open for 7d" in first.message
    assert "open for 14d" in second.message


def test_stale_after_is_configurable() -> None:
    [reminder] = due([make(severity="SEV4")], T0 + 2 * D, stale_after=2 * D)

    assert reminder.key == "42:stale:0"


def test_non_positive_stale_after_is_refused() -> None:
    with pytest.raises(ValueError, match="stale_after must be positive"):
        due([], T0, stale_after=timedelta(0))


# ------------------------------------------------------------------ missing RCA


def test_resolved_sev1_without_rca_is_reminded_48h_after_resolving() -> None:
    resolved_at = T0 + 2 * H
    incident = make(status=Status.RESOLVED, resolved=resolved_at)

    assert due([incident], resolved_at + 48 * H - S) == []
    [reminder] = due([incident], resolved_at + 48 * H)

    assert reminder.kind is ReminderKind.MISSING_RCA
    assert reminder.due_at == resolved_at + 48 * H
    assert reminder.key == f"42:missing_rca:{resolved_at.isoformat()}"
    assert "INC-42 (SEV1) was resolved 2d ago and still has no RCA link" in reminder.message


def test_no_rca_reminder_once_linked_or_when_the_level_does_not_require_one() -> None:
    resolved_at = T0 + H
    linked = make(1, status=Status.RESOLVED, resolved=resolved_at, rca_url="https://x/rca")
    optional = make(2, severity="SEV3", status=Status.RESOLVED, resolved=resolved_at)
    none = make(3, severity="SEV4", status=Status.RESOLVED, resolved=resolved_at)

    assert due([linked, optional, none], resolved_at + 10 * D) == []


def test_resolving_again_after_a_reopen_starts_a_new_rca_reminder() -> None:
    first = make(status=Status.RESOLVED, resolved=T0 + H)
    again = first.with_changes(resolved_at=T0 + 3 * D)

    [before] = due([first], T0 + 10 * D)
    [after] = due([again], T0 + 10 * D)

    assert before.key != after.key


# ------------------------------------------------------------------ the whole result


def test_result_is_sorted_by_due_time_then_incident_then_kind() -> None:
    a = make(1, acked=False)  # unacknowledged at 5m, update overdue at 30m
    b = make(2, acked=False, declared=T0 - 10 * M)  # unacknowledged at -5m, update at 20m

    reminders = due([a, b], T0 + 30 * M)

    assert [(r.incident_id, r.kind.value) for r in reminders] == [
        (2, "unacknowledged"),
        (1, "unacknowledged"),
        (2, "update_overdue"),
        (1, "update_overdue"),
    ]


def test_accepts_a_generator() -> None:
    incidents = [make(1), make(2)]

    assert due_reminders(iter(incidents), T0 + H, DEFAULT_POLICY) == due(incidents, T0 + H)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due([], datetime(2026, 1, 1))


# ------------------------------------------------------------------ properties

incident_strategy = st.builds(
    make,
    id=st.integers(1, 10_000),
    severity=st.sampled_from(["SEV1", "SEV2", "SEV3", "SEV4"]),
    status=st.sampled_from(list(Status)),
    declared=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 3, 1), timezones=st.just(UTC)
    ),
    acked=st.booleans(),
    last_update=st.none()
    | st.datetimes(
        min_value=datetime(2026, 3, 1), max_value=datetime(2026, 3, 10), timezones=st.just(UTC)
    ),
    resolved=st.none()
    | st.datetimes(
        min_value=datetime(2026, 3, 1), max_value=datetime(2026, 3, 10), timezones=st.just(UTC)
    ),
    rca_url=st.none() | st.just("https://wiki/rca"),
)
now_strategy = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 4, 1), timezones=st.just(UTC)
)


@given(
    st.lists(incident_strategy, max_size=20, unique_by=lambda i: i.id), now_strategy, st.randoms()
)
def test_reminders_are_due_unique_sorted_and_deterministic(
    incidents: list[Incident], now: datetime, rnd: random.Random
) -> None:
    reminders = due(incidents, now)

    assert all(r.due_at <= now for r in reminders)
    assert len({r.key for r in reminders}) == len(reminders)
    assert len({(r.incident_id, r.kind) for r in reminders}) == len(reminders)
    assert reminders == sorted(reminders, key=lambda r: (r.due_at, r.incident_id, r.kind.value))
    shuffled = list(incidents)
    rnd.shuffle(shuffled)
    assert due(shuffled, now) == reminders


@given(incident_strategy, now_strategy, st.integers(1, 100_000))
def test_a_repeating_reminder_keeps_its_key_until_its_next_occurrence(
    incident: Incident, now: datetime, later_seconds: int
) -> None:
    later = now + timedelta(seconds=later_seconds)
    before = {r.kind: r for r in due([incident], now)}
    after = {r.kind: r for r in due([incident], later)}

    for kind, reminder in before.items():
        # Only the latest occurrence is returned, and nothing disappears as time passes.
        assert kind in after
        assert after[kind].due_at >= reminder.due_at
        assert (after[kind].key == reminder.key) == (after[kind].due_at == reminder.due_at)


# --------------------------------------------------------------------------- overdue follow-ups


def _follow_up(due: date | None, *, done: bool = False, fid: int = 7) -> FollowUp:
    return FollowUp(
        incident_id=42,
        title="Add an alert",
        created_at=T0,
        owner=Actor("slack", "UBOB", "bob"),
        due=due,
        done=done,
        id=fid,
    )


def test_a_follow_up_is_overdue_from_midnight_after_its_due_date_in_the_team_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    incident = make(resolved=T0 + H, status=Status.RESOLVED)
    late = [(_follow_up(date(2026, 3, 2)), incident)]
    # 23:30 UTC on the 2nd is 00:30 on the 3rd in Berlin: the 2nd is over there.
    evening = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)

    assert overdue_follow_ups(late, evening, UTC) == []
    [reminder] = overdue_follow_ups(late, evening, berlin)

    assert reminder == Reminder(
        incident_id=42,
        kind=ReminderKind.FOLLOW_UP_OVERDUE,
        due_at=datetime(2026, 3, 2, 23, 0, tzinfo=UTC),  # midnight in Berlin
        key="42:follow_up_overdue:7:2026-03-03",
        message="INC-42: follow-up #7 \u201cAdd an alert\u201d (owner bob) was due 2026-03-02 "
        "and is 1 day overdue; finish it or mark it done",
    )


def test_an_overdue_follow_up_is_reminded_once_a_day_until_done() -> None:
    incident = make()
    late = _follow_up(date(2026, 3, 1))
    keys = [
        [r.key for r in overdue_follow_ups([(late, incident)], T0 + n * H, UTC)]
        for n in range(0, 72, 6)
    ]

    assert sorted({k for ks in keys for k in ks}) == [
        "42:follow_up_overdue:7:2026-03-02",
        "42:follow_up_overdue:7:2026-03-03",
        "42:follow_up_overdue:7:2026-03-04",
        "42:follow_up_overdue:7:2026-03-05",
    ]
    assert "is 3 days overdue" in overdue_follow_ups([(late, incident)], T0 + 2 * D, UTC)[0].message
    done = attrs.evolve(late, done=True)
    undated = _follow_up(None, fid=8)
    due_today = _follow_up(T0.date(), fid=9)
    assert (
        overdue_follow_ups([(done, incident), (undated, incident), (due_today, incident)], T0, UTC)
        == []
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        overdue_follow_ups([], T0.replace(tzinfo=None), UTC)
