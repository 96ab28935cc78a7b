"""Alert routing: which ``[[alerts.rules]]`` entry an alert matches and what follows.

Pure functions of (alert, policy) and (incident, alert state): no store, no
clock. :meth:`crashbot_core.service.Crashbot.ingest_alert` applies the
decisions made here.

A rule matches on the alert's source and labels and says

* ``severity`` and ``components`` of an incident it declares,
* ``action``: ``declare`` (severity's public default), ``private`` (declare as
  private) or ``record`` (store the alert, touch no incident),
* ``group_by``: labels whose values identify "the same problem"; alerts of one
  group attach to one open incident (default: the sender's own group, such
  as Alertmanager's ``groupKey``, else the alert's fingerprint),
* ``threshold``: declare only once the group fired this many times within a
  window (fewer are recorded),
* ``window``: a firing alert for a group whose incident was resolved less than
  this long ago reopens it instead of declaring another one (flapping),
* ``on_resolved``: what the group's alerts all resolving does to the incident:
  ``record``, ``monitoring`` or ``resolve`` — never for the most severe level,
  which only moves to monitoring and waits for a human.

The first matching rule wins, like an Alertmanager route without ``continue``.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from attrs import field, frozen

from crashbot_core.durations import format_duration
from crashbot_core.models import Alert, AlertStatus, Impact, Incident, Status

#: Incident label holding the alert group an incident was declared for.
GROUP_LABEL = "alert_group"

DEFAULT_WINDOW = timedelta(minutes=30)

#: Default ``[alerts] chat_interval``: at most one new chat post per incident this often.
DEFAULT_CHAT_INTERVAL = timedelta(seconds=30)

#: A ``group_by`` entry naming the alert's fingerprint rather than a label.
FINGERPRINT_KEY = "fingerprint"


class Action(enum.StrEnum):
    """What a firing alert with no open incident does."""

    #: Declare an incident, public or not as its severity says.
    DECLARE = "declare"
    #: Declare a private incident (never on the status page until someone says so).
    PRIVATE = "private"
    #: Only store the alert.
    RECORD = "record"


class OnResolved(enum.StrEnum):
    """What happens to an incident when every alert attached to it has resolved."""

    #: Only the timeline entry.
    RECORD = "record"
    #: Move an investigating/identified incident to monitoring.
    MONITORING = "monitoring"
    #: Resolve it, except at the most severe level (that moves to monitoring).
    RESOLVE = "resolve"


class FollowUp(enum.StrEnum):
    """The status change an attached alert causes, decided by :func:`after_alert`."""

    NONE = "none"
    INVESTIGATING = "investigating"
    MONITORING = "monitoring"
    RESOLVE = "resolve"


@frozen
class Threshold:
    """``threshold = { count = 3, within = "1h" }``: declare on the Nth occurrence only."""

    count: int
    within: timedelta

    def describe(self, seen: int) -> str:
        """``2 of 3 within 1h``, for the intake's reply."""
        return f"{seen} of {self.count} within {format_duration(self.within)}"


@frozen
class AlertRule:
    """One ``[[alerts.rules]]`` entry, validated."""

    #: Shown in the incident timeline and the intake reply; defaults to ``rule N``.
    name: str
    #: Alert source name (``alertmanager`` …); None matches every source.
    source: str | None = None
    #: Labels that must equal these values.
    labels: Mapping[str, str] = field(factory=dict)
    #: Labels whose values must fully match these regular expressions.
    labels_re: Mapping[str, re.Pattern[str]] = field(factory=dict)
    severity: str | None = None
    components: tuple[str, ...] = ()
    impact: Impact | None = None
    action: Action | None = None
    group_by: tuple[str, ...] | None = None
    window: timedelta | None = None
    on_resolved: OnResolved | None = None
    threshold: Threshold | None = None

    def matches(self, alert: Alert) -> bool:
        """True when the alert's source and labels satisfy this rule.

        A ``severity`` key also matches the alert's severity hint when the
        alert has no ``severity`` label (Datadog priorities, Sentry levels).
        """
        if self.source is not None and self.source != alert.source:
            return False
        for key, wanted in self.labels.items():
            if label_value(alert, key) != wanted:
                return False
        for key, pattern in self.labels_re.items():
            value = label_value(alert, key)
            if value is None or pattern.fullmatch(value) is None:
                return False
        return True


def label_value(alert: Alert, key: str) -> str | None:
    """The alert's label ``key``; ``severity`` falls back to the severity hint."""
    value = alert.labels.get(key)
    if value is None and key == "severity":
        return alert.severity
    return value


@frozen
class Route:
    """What the policy decided for one alert."""

    #: Name of the matching rule, or None when the defaults applied.
    rule: str | None
    action: Action
    #: Severity for a declared incident: the rule's, else the alert's hint (may not parse).
    severity: str | None
    components: Mapping[str, Impact | None]
    #: Human-readable identity of the group (``alertmanager/1a30ba71cca2921f``).
    group_key: str
    #: Short stable id of the group, stored as the incident label :data:`GROUP_LABEL`.
    group_id: str
    window: timedelta
    on_resolved: OnResolved
    #: Occurrences needed before a new incident is declared (None: the first).
    threshold: Threshold | None = None


@frozen
class AlertPolicy:
    """The ``[alerts]`` table: defaults plus ordered rules."""

    rules: tuple[AlertRule, ...] = ()
    #: Action when no rule matches or the matching rule sets none.
    action: Action = Action.PRIVATE
    #: Grouping labels when the rule sets none; empty: the sender's natural group.
    group_by: tuple[str, ...] = ()
    window: timedelta = DEFAULT_WINDOW
    on_resolved: OnResolved = OnResolved.MONITORING
    #: Public text for an alert-driven reopen; alert-derived text is never public.
    reopened_message: str = "The problem has recurred; we are investigating again."
    #: Public title of an alert-declared incident (its own title is the alert's).
    public_title: str = "Service disruption"
    #: Public first update of an alert-declared incident.
    public_message: str = "We are investigating reports of a problem."
    #: At most one new chat post per incident this often about its alerts.
    chat_interval: timedelta = DEFAULT_CHAT_INTERVAL

    def match(self, alert: Alert) -> AlertRule | None:
        """The first rule the alert matches, or None."""
        for rule in self.rules:
            if rule.matches(alert):
                return rule
        return None

    def route(self, alert: Alert) -> Route:
        """Decide severity, components, action and group for an alert."""
        rule = self.match(alert)
        group_by = self.group_by
        action, window, on_resolved = self.action, self.window, self.on_resolved
        severity = alert.severity
        components: dict[str, Impact | None] = {}
        if rule is not None:
            if rule.group_by is not None:
                group_by = rule.group_by
            action = rule.action or action
            window = rule.window if rule.window is not None else window
            on_resolved = rule.on_resolved or on_resolved
            severity = rule.severity or severity
            components = {c: rule.impact for c in rule.components}
        key = group_key(alert, group_by, rule.name if rule is not None else None)
        return Route(
            rule=rule.name if rule is not None else None,
            action=action,
            severity=severity,
            components=components,
            group_key=key,
            group_id=group_id(key),
            window=window,
            on_resolved=on_resolved,
            threshold=rule.threshold if rule is not None else None,
        )


def group_key(alert: Alert, group_by: Sequence[str], rule: str | None) -> str:
    """The identity of "the same problem".

    Without grouping labels it is the sender's own group (Alertmanager's
    ``groupKey``, Datadog's aggregation key …: what its users already call one
    notification), else the source and fingerprint, so the same alert firing
    again finds its incident. With them it is the rule plus the labels'
    values, so alerts from several sources (or several instances) with the
    same ``service`` land in one incident. A missing label counts as empty,
    which keeps the key stable when a source omits it; ``fingerprint``
    (unless the alert has such a label) stands for the alert's fingerprint.
    """
    if not group_by:
        if alert.group:
            return f"{alert.source}#{alert.group}"
        return f"{alert.source}/{alert.fingerprint}"
    parts = [f"{k}={_group_value(alert, k)}" for k in group_by]
    scope = rule if rule is not None else "*"
    return f"{scope}|" + ",".join(parts)


def _group_value(alert: Alert, key: str) -> str:
    value = label_value(alert, key)
    if value is None and key == FINGERPRINT_KEY:
        return alert.fingerprint
    return value or ""


def group_id(key: str) -> str:
    """A short, stable, label-safe id for a group key (64 bits of SHA-256)."""
    return "g-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def recently_resolved(incident: Incident, now: datetime, window: timedelta) -> bool:
    """True when a resolved incident closed less than ``window`` before ``now`` (flapping)."""
    if incident.is_open or incident.resolved_at is None:
        return False
    return now - incident.resolved_at < window


def after_alert(
    incident: Incident,
    status: AlertStatus,
    *,
    all_resolved: bool,
    on_resolved: OnResolved,
    most_severe: str,
) -> FollowUp:
    """The status change an alert attached to an open incident causes.

    * A firing alert on an incident in monitoring means the fix did not hold:
      back to investigating.
    * When every alert of the incident has resolved, ``on_resolved`` applies;
      the most severe level is never resolved by an alert, only moved to
      monitoring, so a human confirms and writes the resolve message.
    """
    if not incident.is_open:
        return FollowUp.NONE
    if status is AlertStatus.FIRING:
        if incident.status is Status.MONITORING:
            return FollowUp.INVESTIGATING
        return FollowUp.NONE
    if not all_resolved or on_resolved is OnResolved.RECORD:
        return FollowUp.NONE
    if on_resolved is OnResolved.RESOLVE and incident.severity != most_severe:
        return FollowUp.RESOLVE
    if incident.status in (Status.INVESTIGATING, Status.IDENTIFIED):
        return FollowUp.MONITORING
    return FollowUp.NONE


def latest_statuses(alerts: Sequence[Alert]) -> dict[tuple[str, str], AlertStatus]:
    """The newest status per (source, fingerprint); ``alerts`` oldest first."""
    states: dict[tuple[str, str], AlertStatus] = {}
    for alert in alerts:
        states[(alert.source, alert.fingerprint)] = AlertStatus(alert.status)
    return states
