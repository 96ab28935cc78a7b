"""Escalation policies: who is told, and when, while an incident stays unacknowledged.

``[escalation.KEY]`` lists ordered steps per severity level, each due a
while after the incident was declared::

    [oncall.primary]
    slack = "U012AB3CD"
    pagerduty = "R0UT1NGKEY..."

    [escalation.SEV1]
    steps = [
      { after = "0m", notify = "channel" },
      { after = "0m", page = "primary" },
      { after = "10m", page = "secondary" },
    ]

Like the reminders of :mod:`crashbot_core.schedule`, this is pure: given
(incidents, now, policy), :func:`due_steps` returns every step due now as a
:class:`~crashbot_core.models.Reminder` of kind ``escalation`` with one key
per (incident, level, step). The worker leases each key in the store before
sending, so any number of workers send each step once; a step is due only
while the incident is open and unacknowledged, so an acknowledgement from
any surface stops the escalation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from attrs import define, field, frozen

from crashbot_core.durations import format_duration, parse_duration
from crashbot_core.errors import ConfigError, CrashbotError, InvalidInput
from crashbot_core.models import Incident, Reminder, ReminderKind
from crashbot_core.severity import SeverityPolicy

__all__ = ["EscalationPolicy", "OnCall", "Page", "Step", "due_steps", "page_of"]

#: What a step may do.
NOTIFY, PAGE = "notify", "page"
#: The one place a ``notify`` step notifies.
CHANNEL = "channel"


# ---------------------------------------------------------------------------
# The file's shape
# ---------------------------------------------------------------------------


@define
class OnCallTable:
    """``[oncall.KEY]``: someone (or a rota) an escalation step can page."""

    #: Shown in messages ("Paging Primary on-call …"); default: the key.
    name: str | None = None
    #: A Slack user id (``U012AB3CD``) or user group id (``S012AB3CD``) mentioned in the channel.
    slack: str | None = None
    #: Integration key of the PagerDuty service (Events API v2) that pages this target.
    pagerduty: str | None = None
    #: Opsgenie team that receives this target's alert.
    opsgenie: str | None = None


@define
class StepTable:
    """One entry of ``[escalation.KEY] steps``: exactly one of ``notify`` and ``page``."""

    #: How long after the incident was declared the step is due (``"0m"``, ``"10m"``).
    after: str = "0m"
    #: ``"channel"``: post in the incident channel with the Slack ``escalation_mention``.
    notify: str | None = None
    #: The ``[oncall]`` key to page.
    page: str | None = None


@define
class EscalationTable:
    """``[escalation.KEY]``: the steps of one severity level, in order."""

    steps: list[StepTable] = field(factory=list)


# ---------------------------------------------------------------------------
# The loaded policy
# ---------------------------------------------------------------------------


@frozen
class OnCall:
    """A target of ``page`` steps, with its address on each surface."""

    key: str
    name: str
    slack: str | None = None
    pagerduty: str | None = None
    opsgenie: str | None = None


@frozen
class Step:
    """One step of a level's escalation."""

    #: 1 for the first step of the level.
    number: int
    #: Due this long after the incident was declared.
    after: timedelta
    #: :data:`NOTIFY` or :data:`PAGE`.
    action: str
    #: :data:`CHANNEL` for a notify step, the ``[oncall]`` key for a page step.
    target: str


@frozen
class EscalationPolicy:
    """Steps per severity level (keys as the severity policy spells them) and on-call targets."""

    levels: Mapping[str, tuple[Step, ...]] = field(factory=dict)
    oncall: Mapping[str, OnCall] = field(factory=dict)

    def steps_for(self, severity: str) -> tuple[Step, ...]:
        """The level's steps; none for a level without ``[escalation.KEY]``."""
        return self.levels.get(severity, ())


@frozen
class Page:
    """What ``crashbot_page`` receives: one escalation step that fell due."""

    #: The step's number in its level's policy (1 = first).
    step: int
    #: :data:`NOTIFY` (tell the incident channel) or :data:`PAGE` (page :attr:`oncall`).
    action: str
    #: :data:`CHANNEL` or the ``[oncall]`` key.
    target: str
    #: The paged target's addresses (None for a notify step or an unknown key).
    oncall: OnCall | None
    #: A ready-made sentence for people.
    message: str
    #: The step's key: the same across retries of its delivery.
    key: str


def build_escalation(
    oncall: Mapping[str, OnCallTable],
    escalation: Mapping[str, EscalationTable],
    policy: SeverityPolicy,
    where: str,
) -> EscalationPolicy:
    """The policy from ``[oncall]`` and ``[escalation]``; levels parsed by the severity policy.

    :raises ConfigError: one line naming the file and the key path.
    """
    targets: dict[str, OnCall] = {}
    for key, t in oncall.items():
        path = f"{where}: $.oncall.{key}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", key) or key == CHANNEL:
            raise ConfigError(
                f"{path}: found the key {key!r}, expected letters, digits, '-', '_' or '.' "
                f"(and not {CHANNEL!r}), such as primary"
            )
        if t.slack is not None and not re.fullmatch(r"[UWS][A-Z0-9]{2,20}", t.slack):
            raise ConfigError(
                f"{path}.slack: found {t.slack!r}, expected a Slack user id such as U012AB3CD "
                "(or a user group id such as S012AB3CD)"
            )
        if not (t.slack or t.pagerduty or t.opsgenie):
            raise ConfigError(f"{path}: expected at least one of slack, pagerduty, opsgenie")
        targets[key] = OnCall(
            key=key, name=t.name or key, slack=t.slack, pagerduty=t.pagerduty, opsgenie=t.opsgenie
        )
    levels: dict[str, tuple[Step, ...]] = {}
    for level_key, table in escalation.items():
        try:
            level = policy.parse(level_key).key
        except InvalidInput as exc:
            raise ConfigError(f"{where}: $.escalation.{level_key}: {exc.message}") from None
        steps: list[Step] = []
        for i, s in enumerate(table.steps):
            path = f"{where}: $.escalation.{level_key}.steps[{i}]"
            steps.append(_step(s, i + 1, path, targets, steps[-1] if steps else None))
        levels[level] = tuple(steps)
    return EscalationPolicy(levels=levels, oncall=targets)


def _step(
    s: StepTable, number: int, path: str, targets: Mapping[str, OnCall], previous: Step | None
) -> Step:
    try:
        after = _parse_after(s.after)
    except CrashbotError:
        raise ConfigError(
            f"{path}.after: found {s.after!r}, expected a duration such as 0m, 10m or 1h"
        ) from None
    if previous is not None and after < previous.after:
        raise ConfigError(
            f"{path}.after: found {s.after!r}, expected no earlier than the step before "
            f"({format_duration(previous.after)}): steps run in order"
        )
    if (s.notify is None) == (s.page is None):
        raise ConfigError(f"{path}: expected exactly one of notify or page")
    if s.notify is not None:
        if s.notify != CHANNEL:
            raise ConfigError(f"{path}.notify: found {s.notify!r}, expected {CHANNEL!r}")
        return Step(number=number, after=after, action=NOTIFY, target=CHANNEL)
    assert s.page is not None
    if s.page not in targets:
        known = ", ".join(sorted(targets)) or "none defined"
        raise ConfigError(f"{path}.page: found {s.page!r}, expected a key of [oncall] ({known})")
    return Step(number=number, after=after, action=PAGE, target=s.page)


def _parse_after(value: str) -> timedelta:
    text = value.strip()
    if re.fullmatch(r"0+\s*[a-z]*", text):
        return timedelta(0)  # "0m": at once (parse_duration wants a positive amount)
    return parse_duration(text)


# ---------------------------------------------------------------------------
# What is due
# ---------------------------------------------------------------------------


def due_steps(
    incidents: Iterable[Incident], now: datetime, policy: EscalationPolicy
) -> list[Reminder]:
    """Every escalation step due at ``now`` for open, unacknowledged incidents.

    A step is due from ``declared_at + after`` for as long as the incident
    stays open and unacknowledged; its key (``ID:escalation:LEVEL:STEP``) is
    the same every time, so the worker sends it once. A worker that was down
    sends every step that fell due meanwhile, in order. A severity change
    moves the incident to the new level's steps, timed from the declaration.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    due: list[Reminder] = []
    for incident in incidents:
        if not incident.is_open or incident.acknowledged_at is not None:
            continue
        for step in policy.steps_for(incident.severity):
            due_at = incident.declared_at + step.after
            if now < due_at:
                break  # steps are ordered by `after`
            due.append(
                Reminder(
                    incident_id=incident.id,
                    kind=ReminderKind.ESCALATION,
                    due_at=due_at,
                    key=f"{incident.id}:escalation:{incident.severity}:{step.number}",
                    message=_message(incident, step, policy),
                    step=step.number,
                    action=step.action,
                    target=step.target,
                )
            )
    due.sort(key=lambda r: (r.due_at, r.incident_id, r.step or 0))
    return due


def _message(incident: Incident, step: Step, policy: EscalationPolicy) -> str:
    name = incident.ref or f"incident {incident.id}"
    waited = (
        f"unacknowledged for {format_duration(step.after)}"
        if step.after
        else "declared and unacknowledged"
    )
    if step.action == NOTIFY:
        return f"{name} ({incident.severity}) is {waited}; who is on it? Acknowledge it."
    target = policy.oncall[step.target].name if step.target in policy.oncall else step.target
    return f"Paging {target}: {name} ({incident.severity}) is {waited}."


def page_of(reminder: Reminder, policy: EscalationPolicy) -> Page:
    """The :class:`Page` a due escalation step is delivered as (addresses from ``policy``)."""
    target = reminder.target or CHANNEL
    action = reminder.action or NOTIFY
    return Page(
        step=reminder.step or 0,
        action=action,
        target=target,
        oncall=policy.oncall.get(target) if action == PAGE else None,
        message=reminder.message,
        key=reminder.key,
    )
