"""Which reminders are due: a pure function of (incidents, now, policy).

The worker calls :func:`due_reminders` on every tick and fires each returned
reminder whose ``key`` it has not fired before (``Store.lease_reminder``; with
many replicas a database lease makes each key fire once). So the rules below
return what is due *now*, and encode "once" in the key, not in state:

``update_overdue``
    An open incident whose level has ``first_update`` (SEV1/SEV2 by default:
    30 min, then every 25 min). With ``t0 = last_update_at or declared_at``,
    occurrence ``k`` is due at ``t0 + first_update + k * update_every``. Only
    the latest due occurrence is returned — a worker that was down for two
    hours sends one nudge, not a backlog. The key holds ``t0``, so posting an
    update starts a new series.
``unacknowledged``
    An open incident with no ``acknowledged_at`` once ``now`` reaches the
    level's response deadline (escalation). Fires once per incident.
``stale``
    An open incident ``stale_after`` (7 days) after ``declared_at``, and again
    every ``stale_after``.
``missing_rca``
    A resolved incident of a level whose postmortem is required, with no
    ``rca_url``, ``rca_due_after`` (48 h) after ``resolved_at``. The key holds
    ``resolved_at``, so a reopened and resolved-again incident is reminded anew.
    Not for an incident closed as invalid or duplicate, nor one recorded after
    the fact (``crashbot declare --retrospective``).

``follow_up_overdue``
    An open follow-up whose due date is before today in the team's time zone
    (:func:`overdue_follow_ups`), once a day: the key holds the follow-up and
    the day.

Every boundary is inclusive: a reminder due at 10:30:00 is returned at
10:30:00, not at 10:29:59.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta, tzinfo

from crashbot_core.durations import format_duration
from crashbot_core.models import (
    RETROSPECTIVE_REF,
    FollowUp,
    Incident,
    Reminder,
    ReminderKind,
    Status,
)
from crashbot_core.severity import Postmortem, SeverityPolicy

__all__ = ["due_reminders", "overdue_follow_ups"]


def due_reminders(
    incidents: Iterable[Incident],
    now: datetime,
    policy: SeverityPolicy,
    *,
    stale_after: timedelta = timedelta(days=7),
    rca_due_after: timedelta = timedelta(hours=48),
) -> list[Reminder]:
    """Every reminder due at ``now``, sorted by (due_at, incident id, kind).

    At most one reminder per (incident, kind). Calling it again with the same
    arguments gives the same reminders with the same keys, which is what lets
    the worker fire each one exactly once.

    :param incidents: the incidents to look at (open and recently resolved); read once.
    :param now: the current instant, timezone-aware.
    :param policy: gives each level's update cadence, response target and postmortem rule.
    :param stale_after: how long an incident may stay open before a stale reminder (repeats).
    :param rca_due_after: how long after resolving a required RCA link is due.
    :raises ValueError: for a naive ``now`` or a non-positive ``stale_after``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if stale_after <= timedelta(0):
        raise ValueError(f"stale_after must be positive, got {stale_after}")

    due: list[Reminder] = []
    for incident in incidents:
        if incident.is_open:
            found = [
                _update_overdue(incident, now, policy),
                _unacknowledged(incident, now, policy),
                _stale(incident, now, stale_after),
            ]
        else:
            found = [_missing_rca(incident, now, policy, rca_due_after)]
        due.extend(r for r in found if r is not None)
    due.sort(key=lambda r: (r.due_at, r.incident_id, r.kind.value))
    return due


def _name(incident: Incident) -> str:
    return incident.ref or f"incident {incident.id}"


def _iso(value: datetime) -> str:
    # Keys must not change when a store hands the same instant back with a
    # different offset, so they are always written in UTC.
    return value.astimezone(UTC).isoformat()


def _update_overdue(incident: Incident, now: datetime, policy: SeverityPolicy) -> Reminder | None:
    level = policy.get(incident.severity)
    if level.first_update is None:
        return None
    t0 = incident.last_update_at or incident.declared_at
    first = t0 + level.first_update
    if now < first:
        return None
    every = level.update_every
    k, due_at = 0, first
    # Without a repeat interval only the first nudge exists.
    if every is not None and every > timedelta(0):
        k = (now - first) // every
        due_at = first + k * every
    silent = format_duration(due_at - t0)
    return Reminder(
        incident_id=incident.id,
        kind=ReminderKind.UPDATE_OVERDUE,
        due_at=due_at,
        key=f"{incident.id}:update_overdue:{_iso(t0)}:{k}",
        message=f"{_name(incident)} ({incident.severity}) has had no update for {silent}; "
        "post an update so everyone knows where things stand",
    )


def _unacknowledged(incident: Incident, now: datetime, policy: SeverityPolicy) -> Reminder | None:
    if incident.acknowledged_at is not None:
        return None
    level = policy.get(incident.severity)
    deadline = level.response_deadline(incident.started_at)
    if now < deadline:
        return None
    target = (
        format_duration(level.respond_within)
        if level.respond_within is not None
        else "next business day"
    )
    return Reminder(
        incident_id=incident.id,
        kind=ReminderKind.UNACKNOWLEDGED,
        due_at=deadline,
        key=f"{incident.id}:unacknowledged",
        message=f"{_name(incident)} ({incident.severity}) is still unacknowledged past its "
        f"response target ({target}); acknowledge it or take the commander role",
    )


def _stale(incident: Incident, now: datetime, stale_after: timedelta) -> Reminder | None:
    elapsed = now - incident.declared_at
    if elapsed < stale_after:
        return None
    # Occurrence 0 is due at declared_at + stale_after, occurrence n one more period later.
    n = elapsed // stale_after - 1
    due_at = incident.declared_at + (n + 1) * stale_after
    return Reminder(
        incident_id=incident.id,
        kind=ReminderKind.STALE,
        due_at=due_at,
        key=f"{incident.id}:stale:{n}",
        message=f"{_name(incident)} has been open for "
        f"{format_duration(due_at - incident.declared_at)}; "
        "resolve it if it is over, or post an update",
    )


def _missing_rca(
    incident: Incident, now: datetime, policy: SeverityPolicy, rca_due_after: timedelta
) -> Reminder | None:
    if incident.status is not Status.RESOLVED or incident.resolved_at is None:
        return None
    if incident.rca_url is not None:
        return None
    # A false alarm or a duplicate needs no postmortem; an incident recorded
    # after the fact is written up already (it pages and reminds nobody).
    if not incident.counts or RETROSPECTIVE_REF in incident.refs:
        return None
    if policy.get(incident.severity).postmortem is not Postmortem.REQUIRED:
        return None
    due_at = incident.resolved_at + rca_due_after
    if now < due_at:
        return None
    return Reminder(
        incident_id=incident.id,
        kind=ReminderKind.MISSING_RCA,
        due_at=due_at,
        key=f"{incident.id}:missing_rca:{_iso(incident.resolved_at)}",
        message=f"{_name(incident)} ({incident.severity}) was resolved "
        f"{format_duration(rca_due_after)} ago and still has no RCA link; "
        "write the postmortem and link it to the incident",
    )


def overdue_follow_ups(
    follow_ups: Iterable[tuple[FollowUp, Incident]], now: datetime, zone: tzinfo
) -> list[Reminder]:
    """A reminder for each open follow-up due before today in ``zone``, once a day.

    A follow-up due on the 3rd is overdue from midnight of the 4th in the
    team's time zone; that day's reminder is due then, the next one a day
    later, and so on until it is done.

    :param follow_ups: follow-ups with their incidents (the store's overdue listing).
    :param now: the current instant, timezone-aware.
    :param zone: the team's time zone (``[crashbot] time_zone``).
    :raises ValueError: for a naive ``now``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    today = now.astimezone(zone).date()
    day_start = datetime.combine(today, time(), zone).astimezone(UTC)
    due: list[Reminder] = []
    for follow_up, incident in follow_ups:
        if follow_up.due is None or not follow_up.overdue_on(today):
            continue
        days = (today - follow_up.due).days
        owner = f" (owner {follow_up.owner.display})" if follow_up.owner else ""
        due.append(
            Reminder(
                incident_id=incident.id,
                kind=ReminderKind.FOLLOW_UP_OVERDUE,
                due_at=day_start,
                key=f"{incident.id}:follow_up_overdue:{follow_up.id}:{today.isoformat()}",
                message=f"{_name(incident)}: follow-up #{follow_up.id} \u201c{follow_up.title}\u201d"
                f"{owner} was due {follow_up.due.isoformat()} and is {days} "
                f"{'day' if days == 1 else 'days'} overdue; finish it or mark it done",
            )
        )
    return due
