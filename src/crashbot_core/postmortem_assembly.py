"""The postmortem document: assembled from an incident's record, pure data.

:func:`build_postmortem` gathers the incident, its whole timeline (internal and
public), roles, components, alerts and follow-ups into a frozen
:class:`Postmortem`; :func:`assemble` does the same from records already
loaded. Update messages starting with ``Root cause:``, ``Impact:``, ``Went
well:`` or ``Went wrong:`` fill the narrative sections (:data:`SECTION_MARKERS`).

Every name here is importable from :mod:`crashbot_core.postmortem` too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from attrs import frozen

from crashbot_core.cost import CostRates, IncidentCost, breakdown, engagements
from crashbot_core.models import (
    Actor,
    Alert,
    Component,
    Event,
    EventKind,
    FollowUp,
    Impact,
    Incident,
)
from crashbot_core.severity import Postmortem as PostmortemRule
from crashbot_core.severity import Severity, SeverityPolicy

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

__all__ = [
    "SECTION_MARKERS",
    "ComponentImpact",
    "Postmortem",
    "RoleHolder",
    "TimelineEntry",
    "assemble",
    "build_postmortem",
    "describe_event",
]


@frozen
class TimelineEntry:
    """One line of the postmortem timeline: an event in words."""

    at: datetime
    actor: Actor
    kind: EventKind
    #: What happened, in one line of plain text.
    text: str
    #: Shown on the status page too.
    public: bool


@frozen
class RoleHolder:
    """Who holds (or held last) an incident role."""

    key: str
    #: The role's display name (``Incident commander``).
    name: str
    actor: Actor


@frozen
class ComponentImpact:
    """An affected component and how badly."""

    component: Component
    impact: Impact

    @property
    def impact_label(self) -> str:
        """``major outage`` rather than ``major_outage``."""
        return self.impact.value.replace("_", " ")


@frozen
class Postmortem:
    """Everything an exporter needs, assembled from the store. Pure data."""

    incident: Incident
    severity: Severity
    #: The severity policy says a postmortem is required for this level.
    required: bool
    #: When the postmortem is due (resolve + ``rca_due_after``) for required levels.
    due_at: datetime | None
    generated_at: datetime
    summary: str
    root_cause: str
    impact: str
    what_went_well: tuple[str, ...]
    what_went_wrong: tuple[str, ...]
    #: Every event, internal and public, oldest first.
    events: tuple[Event, ...]
    timeline: tuple[TimelineEntry, ...]
    roles: tuple[RoleHolder, ...]
    #: Everyone who appears in the timeline, in order of first appearance.
    responders: tuple[Actor, ...]
    components: tuple[ComponentImpact, ...]
    alerts: tuple[Alert, ...]
    follow_ups: tuple[FollowUp, ...]
    #: The incident's page on the public status site, for public incidents.
    status_url: str | None = None
    #: Estimated cost, person by person; None when ``[cost]`` sets no rate.
    cost: IncidentCost | None = None

    @property
    def ref(self) -> str:
        """``INC-42``."""
        return self.incident.ref

    @property
    def title(self) -> str:
        """Document title: ``Postmortem: INC-42 Checkout down``."""
        return f"Postmortem: {self.incident.ref} {self.incident.title}"

    @property
    def time_to_detect(self) -> timedelta | None:
        """Started → detected (``detected_at``, else declared)."""
        return _since_start(self.incident, self.incident.detected)

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        """Started → acknowledged."""
        return _since_start(self.incident, self.incident.acknowledged_at)

    @property
    def time_to_mitigate(self) -> timedelta | None:
        """Started → first time monitoring (or resolved)."""
        return _since_start(self.incident, self.incident.mitigated_at)

    @property
    def duration(self) -> timedelta | None:
        """Started → resolved; None while open."""
        return _since_start(self.incident, self.incident.resolved_at)

    @property
    def open_follow_ups(self) -> tuple[FollowUp, ...]:
        """Action items not done yet."""
        return tuple(f for f in self.follow_ups if not f.done)


def _since_start(incident: Incident, at: datetime | None) -> timedelta | None:
    return None if at is None else at - incident.started_at


#: Update messages starting with these fill a postmortem section.
SECTION_MARKERS: Mapping[str, str] = {
    "root cause": "root_cause",
    "impact": "impact",
    "went well": "what_went_well",
    "went wrong": "what_went_wrong",
}
_MARKER_RE = re.compile(
    r"^\s*(root[ -]?cause|impact|went well|went wrong)\s*:\s*(.*)\Z",
    re.IGNORECASE | re.DOTALL,
)


def _actor_from(data: Any) -> Actor | None:
    if isinstance(data, Mapping) and data.get("id"):
        return Actor(
            platform=str(data.get("platform", "")),
            id=str(data["id"]),
            name=str(data.get("name") or ""),
        )
    return None


def describe_event(event: Event, role_names: Mapping[str, str] | None = None) -> str:
    """One plain-text line saying what an event did (used by every exporter's timeline)."""
    d = event.data
    names = role_names or {}
    kind = event.kind
    if kind is EventKind.DECLARED:
        text = f"Declared at {d.get('severity', '?')}: {d.get('title', '')}"
        if d.get("description"):
            text += f" — {d['description']}"
        return text
    if kind is EventKind.ACKNOWLEDGED:
        return "Acknowledged" + (" (took the commander role)" if d.get("via") else "")
    if kind is EventKind.STATUS_CHANGED:
        return f"Status {d.get('from')} → {d.get('to')}"
    if kind is EventKind.SEVERITY_CHANGED:
        return f"Severity {d.get('from')} → {d.get('to')}"
    if kind is EventKind.UPDATE_POSTED:
        prefix = "Public update" if event.public else "Internal update"
        if d.get("previous_status"):
            prefix += f" (status {d['previous_status']} → {d.get('status')})"
        return f"{prefix}: {d.get('message', '')}"
    if kind in (EventKind.ROLE_ASSIGNED, EventKind.ROLE_UNASSIGNED):
        role = str(d.get("role", ""))
        who = _actor_from(d.get("user"))
        name = who.display if who else "?"
        by_self = who is not None and who.id == event.actor.id
        if kind is EventKind.ROLE_ASSIGNED:
            verb = "took" if by_self else "was given"
        else:
            verb = "left" if by_self else "was relieved of"
        return f"{name} {verb} the {names.get(role, role)} role"
    if kind is EventKind.COMPONENTS_CHANGED:
        to = d.get("to") or {}
        listed = ", ".join(f"{k} ({str(v).replace('_', ' ')})" for k, v in to.items())
        return f"Affected components: {listed or 'none'}"
    if kind is EventKind.RESOLVED:
        return "Resolved" + (f": {d['message']}" if d.get("message") else "")
    if kind is EventKind.REOPENED:
        return "Reopened" + (f": {d['message']}" if d.get("message") else "")
    if kind is EventKind.RCA_LINKED:
        return f"RCA linked: {d.get('url', '')}"
    if kind is EventKind.ALERT_ATTACHED:
        return f"Alert {d.get('status', '')} from {d.get('source', '?')}: {d.get('title', '')}"
    if kind is EventKind.FOLLOW_UP_ADDED:
        return f"Follow-up added: {d.get('title', '')}"
    if kind is EventKind.FOLLOW_UP_DONE:
        return f"Follow-up done: {d.get('title', '')}"
    if kind is EventKind.REMINDER_SENT:
        return f"Reminder sent ({d.get('reminder', '')})"
    if kind is EventKind.POSTMORTEM_EXPORTED:
        return f"Postmortem exported to {d.get('exporter', '?')}: {d.get('location', '')}"
    if kind is EventKind.CLOSED:
        said = f": {d['message']}" if d.get("message") else ""
        if d.get("resolution") == "duplicate":
            return f"Closed as a duplicate of {d.get('original_ref', '?')}{said}"
        return f"Closed as {d.get('resolution', '?')}{said}"
    if kind is EventKind.MERGED:
        return (
            f"{d.get('duplicate_ref', '?')} merged in as a duplicate "
            f"({d.get('alerts', 0)} alerts, {d.get('follow_ups', 0)} follow-ups)"
        )
    if kind is EventKind.RECORDED:
        return f"Recorded after the fact at {d.get('severity', '?')}: {d.get('title', '')}"
    if kind is EventKind.EDITED:
        return f"Corrected {d.get('field', '?')}: {_edited(d.get('from'))} → {_edited(d.get('to'))}"
    return kind.value.replace("_", " ")


def _edited(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} ({str(v).replace('_', ' ')})" for k, v in value.items()) or "none"
    return "none" if value in (None, "") else str(value)


def assemble(
    incident: Incident,
    events: Sequence[Event],
    follow_ups: Sequence[FollowUp],
    *,
    policy: SeverityPolicy,
    now: datetime,
    alerts: Sequence[Alert] = (),
    components: Sequence[Component] = (),
    role_names: Mapping[str, str] | None = None,
    rca_due_after: timedelta | None = None,
    base_url: str | None = None,
    rates: CostRates | None = None,
) -> Postmortem:
    """Build a :class:`Postmortem` from already loaded records (pure; no store access).

    :param components: known components, for display names (unknown keys show as the key).
    :param role_names: role key → display name.
    :param rca_due_after: how long after resolve the postmortem is due.
    :param base_url: the status site, for the public incident link.
    :param rates: hourly rates; with them the postmortem shows the estimated cost.
    """
    names = dict(role_names or {})
    ordered = tuple(sorted(events, key=lambda e: (e.at, e.id)))
    sections: dict[str, list[str]] = {v: [] for v in SECTION_MARKERS.values()}
    responders: dict[tuple[str, str], Actor] = {}
    last_message = ""
    for e in ordered:
        if e.actor.platform not in {"system", "alert"}:
            responders.setdefault((e.actor.platform, e.actor.id), e.actor)
        if e.kind in (EventKind.UPDATE_POSTED, EventKind.RESOLVED):
            message = str(e.data.get("message") or "")
            m = _MARKER_RE.match(message)
            if m:
                key = m.group(1).lower().replace("-", " ").replace("rootcause", "root cause")
                sections[SECTION_MARKERS[key]].append(m.group(2).strip())
            elif message and e.kind is EventKind.RESOLVED:
                last_message = message
    level = policy.get(incident.severity)
    required = level.postmortem is PostmortemRule.REQUIRED
    due_at = (
        incident.resolved_at + rca_due_after
        if required and incident.resolved_at and rca_due_after is not None
        else None
    )
    known = {c.key: c for c in components}
    comps = tuple(
        ComponentImpact(known.get(key) or Component(key=key, name=key), impact)
        for key, impact in sorted(incident.components.items(), key=lambda kv: -kv[1].rank)
    )
    roles = tuple(
        RoleHolder(key=key, name=names.get(key, key), actor=actor)
        for key, actor in incident.roles.items()
    )
    summary_parts = [p for p in (incident.description, last_message) if p]
    status_url = (
        f"{base_url.rstrip('/')}/incidents/{incident.id}" if base_url and incident.public else None
    )
    return Postmortem(
        incident=incident,
        severity=level,
        required=required,
        due_at=due_at,
        generated_at=now,
        summary="\n\n".join(summary_parts),
        root_cause="\n\n".join(sections["root_cause"]),
        impact="\n\n".join(sections["impact"]),
        what_went_well=tuple(sections["what_went_well"]),
        what_went_wrong=tuple(sections["what_went_wrong"]),
        events=ordered,
        timeline=tuple(
            TimelineEntry(
                at=e.at,
                actor=e.actor,
                kind=e.kind,
                text=describe_event(e, names),
                public=e.public,
            )
            for e in ordered
        ),
        roles=roles,
        responders=tuple(responders.values()),
        components=comps,
        alerts=tuple(alerts),
        follow_ups=tuple(sorted(follow_ups, key=lambda f: (f.created_at, f.id))),
        status_url=status_url,
        cost=None
        if rates is None
        else IncidentCost(rates.currency, breakdown(incident, engagements(ordered), rates, now)),
    )


def build_postmortem(crashbot: Crashbot, incident_id: int | str) -> Postmortem:
    """Assemble the postmortem of one incident from the store.

    :raises NotFound: when there is no such incident.
    """
    incident = crashbot.get(incident_id)
    return assemble(
        incident,
        crashbot.store.events(incident.id),
        crashbot.store.follow_ups(incident.id),
        policy=crashbot.policy,
        now=crashbot.now(),
        alerts=crashbot.store.alerts(incident.id),
        components=crashbot.components(),
        role_names={r.key: r.name for r in crashbot.roles.roles},
        rca_due_after=crashbot.config.rca_due_after,
        base_url=crashbot.config.public_url,
        rates=crashbot.config.cost,
    )
