"""The public view of incidents: pure functions, no Flask, no store.

Everything the status site shows is derived here from incidents and their
*public* events, so the privacy rule lives in one place: :func:`is_public`,
:func:`public_face` and :func:`public_updates` are the only gates, and every
renderer (HTML, JSON, feeds, badge, export) is fed from their output.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from attrs import field, frozen

from crashbot_core.models import (
    Component,
    Event,
    EventKind,
    Impact,
    Incident,
    Maintenance,
    MaintenanceStatus,
    Status,
)
from crashbot_core.routing import AlertPolicy
from crashbot_core.severity import SeverityPolicy

#: ``Incident.source`` of incidents an alert declared (``alert:grafana`` …).
ALERT_SOURCE_PREFIX = "alert:"

#: Days shown in each component's uptime bar.
UPTIME_DAYS = 90

#: Share of a partial outage counted as downtime (Statuspage weighs it 30 %).
PARTIAL_WEIGHT = 0.3

OPERATIONAL = "operational"


class Overall(enum.StrEnum):
    """The page's overall status, worst first in :attr:`rank`."""

    OPERATIONAL = "operational"
    MAINTENANCE = "maintenance"
    DEGRADED = "degraded"
    PARTIAL_OUTAGE = "partial outage"
    MAJOR_OUTAGE = "major outage"

    @property
    def rank(self) -> int:
        """Ordering by badness."""
        return list(Overall).index(self)

    @property
    def headline(self) -> str:
        """The banner sentence (Statuspage's ``status.description``)."""
        return _HEADLINES[self]

    @property
    def indicator(self) -> str:
        """Statuspage's ``status.indicator`` for a page in this state."""
        return _INDICATORS[self]

    @property
    def css(self) -> str:
        """A CSS class suffix."""
        return self.value.replace(" ", "-")


_HEADLINES = {
    Overall.OPERATIONAL: "All Systems Operational",
    Overall.MAINTENANCE: "Service Under Maintenance",
    Overall.DEGRADED: "Partially Degraded Service",
    Overall.PARTIAL_OUTAGE: "Partial System Outage",
    Overall.MAJOR_OUTAGE: "Major Service Outage",
}
_INDICATORS = {
    Overall.OPERATIONAL: "none",
    Overall.MAINTENANCE: "maintenance",
    Overall.DEGRADED: "minor",
    Overall.PARTIAL_OUTAGE: "major",
    Overall.MAJOR_OUTAGE: "critical",
}
_FROM_IMPACT = {
    Impact.UNDER_MAINTENANCE: Overall.MAINTENANCE,
    Impact.DEGRADED_PERFORMANCE: Overall.DEGRADED,
    Impact.PARTIAL_OUTAGE: Overall.PARTIAL_OUTAGE,
    Impact.MAJOR_OUTAGE: Overall.MAJOR_OUTAGE,
}

#: What a public update says when its event carries no text.
DEFAULT_BODIES = {
    Status.INVESTIGATING: "We are investigating this issue.",
    Status.IDENTIFIED: "The issue has been identified and a fix is being implemented.",
    Status.MONITORING: "A fix has been implemented and we are monitoring the results.",
    Status.RESOLVED: "This incident has been resolved.",
}


@frozen
class PublicUpdate:
    """One update as the public sees it."""

    id: int
    incident_id: int
    at: datetime
    #: The incident's status after this update (``investigating`` … ``resolved``).
    status: str
    body: str
    kind: str


def _updates(values: Iterable[PublicUpdate]) -> tuple[PublicUpdate, ...]:
    return tuple(values)


@frozen
class PublicIncident:
    """A public incident with its public updates, newest first."""

    incident: Incident
    updates: tuple[PublicUpdate, ...] = field(converter=_updates, default=())

    @property
    def id(self) -> int:
        """The incident id."""
        return self.incident.id

    @property
    def updated_at(self) -> datetime:
        """When the public last saw it change: its newest public update, declaration or end.

        Not ``last_update_at``, which internal notes move too: a public
        timestamp must not tell when the team wrote something internal.
        """
        return max([public_stamp(self.incident), *(u.at for u in self.updates)])


def public_stamp(incident: Incident) -> datetime:
    """The latest public moment of an incident known without its timeline: declared or resolved."""
    return max(incident.declared_at, incident.resolved_at or incident.declared_at)


@frozen
class UptimeDay:
    """One day of one component's uptime bar."""

    day: date
    #: Worst impact seen that day, or None for a clean day.
    worst: Impact | None
    #: ``(ref, title, impact)`` of the public incidents touching the component that day.
    incidents: tuple[tuple[str, str, str], ...] = ()
    #: Weighted downtime in minutes (major 100 %, partial 30 %).
    down_minutes: float = 0.0

    @property
    def css(self) -> str:
        """CSS class suffix of the bar."""
        return "ok" if self.worst is None else self.worst.value.replace("_", "-")

    @property
    def title(self) -> str:
        """Hover text: the date and the day's incidents."""
        head = self.day.isoformat()
        if not self.incidents:
            return f"{head}: no incidents"
        items = "; ".join(
            f"{ref} {title} ({impact.replace('_', ' ')})" for ref, title, impact in self.incidents
        )
        return f"{head}: {items}"


@frozen
class ComponentView:
    """A component with its current status and uptime history."""

    component: Component
    status: str
    days: tuple[UptimeDay, ...] = ()
    uptime: float = 100.0

    @property
    def key(self) -> str:
        """The component key."""
        return self.component.key


@frozen
class ComponentGroup:
    """Components under one heading; ``name`` is empty for ungrouped ones."""

    name: str
    components: tuple[ComponentView, ...]

    @property
    def status(self) -> str:
        """The worst status of its members."""
        return worst_status(c.status for c in self.components)


def is_public(incident: Incident) -> bool:
    """The single rule for incidents: shown only when marked public and it counts.

    An incident closed as invalid (a false alarm) or as a duplicate (merged
    into another) counts no more: the public never sees it, as if private.
    """
    return bool(incident.public) and incident.counts


def declared_by_alert(incident: Incident) -> bool:
    """Whether an alert declared the incident (its title and description are alert text)."""
    return incident.source.startswith(ALERT_SOURCE_PREFIX)


def public_face(incident: Incident, alerts: AlertPolicy) -> Incident:
    """The incident as the public may see it: only fields meant for the public keep their value.

    An alert-declared incident's title and description are the alert's text
    (host names, accounts, queries): the public sees ``[alerts] public_title``
    and ``public_message`` instead. Labels, plugin refs, roles and who
    declared it are internal on every incident, so they are emptied here and
    no renderer can show them by mistake.
    """
    changes: dict[str, object] = {
        name: empty
        for name, empty in (("labels", {}), ("refs", {}), ("roles", {}), ("declared_by", None))
        if getattr(incident, name)
    }
    if declared_by_alert(incident):
        changes.update(title=alerts.public_title, description=alerts.public_message)
    # Status pages read incidents without their internal fields: most need no copy.
    return incident.with_changes(**changes) if changes else incident


def public_updates(incident: Incident, events: Iterable[Event]) -> list[PublicUpdate]:
    """The public updates of a public incident, newest first.

    Only events flagged public become updates (internal chatter never does),
    and a private incident has none at all.
    """
    if not is_public(incident):
        return []
    out: list[PublicUpdate] = []
    for e in events:
        if not e.public:
            continue
        update = _update_from(incident, e)
        if update is not None:
            out.append(update)
    out.sort(key=lambda u: (u.at, u.id), reverse=True)
    return out


@frozen
class PublicMaintenance:
    """A maintenance as the public sees it: no actors, updates newest first."""

    id: int
    ref: str
    title: str
    status: MaintenanceStatus
    scheduled_for: datetime
    scheduled_until: datetime
    created_at: datetime
    components: tuple[str, ...] = ()
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updates: tuple[PublicUpdate, ...] = field(converter=_updates, default=())

    @property
    def is_active(self) -> bool:
        """In progress or verifying: its components are under maintenance now."""
        return self.status.is_active

    @property
    def updated_at(self) -> datetime:
        """Its newest update, or when it was announced."""
        return max([self.created_at, *(u.at for u in self.updates)])

    def window(self, now: datetime) -> tuple[datetime, datetime] | None:
        """When the work actually ran (None before it starts or when cancelled)."""
        if not (self.is_active or self.status is MaintenanceStatus.COMPLETED):
            return None
        start = self.started_at or self.scheduled_for
        end = self.completed_at or (now if self.is_active else self.scheduled_until)
        return start, max(start, end)


#: Statuses shown in every public listing; a cancelled one keeps only its own page.
LISTED_MAINTENANCE = (
    MaintenanceStatus.SCHEDULED,
    MaintenanceStatus.IN_PROGRESS,
    MaintenanceStatus.VERIFYING,
    MaintenanceStatus.COMPLETED,
)


def public_maintenance(m: Maintenance) -> PublicMaintenance:
    """The gate for maintenances: every field but who scheduled or updated it.

    A maintenance is public by nature (it exists to be announced), but the
    people behind it are internal, as on incidents.
    """
    updates = [
        PublicUpdate(
            id=u.id,
            incident_id=m.id,
            at=u.at,
            status=u.status.value,
            body=u.body,
            kind="maintenance",
        )
        for u in m.updates
    ]
    updates.sort(key=lambda u: (u.at, u.id), reverse=True)
    return PublicMaintenance(
        id=m.id,
        ref=m.ref,
        title=m.title,
        status=m.status,
        scheduled_for=m.scheduled_for,
        scheduled_until=m.scheduled_until,
        created_at=m.created_at,
        components=m.components,
        started_at=m.started_at,
        completed_at=m.completed_at,
        updates=updates,
    )


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _update_from(incident: Incident, e: Event) -> PublicUpdate | None:
    d = e.data
    status: str
    body: str
    if e.kind is EventKind.DECLARED:
        status = _text(d.get("status")) or Status.INVESTIGATING.value
        # An alert's description rides on its declared event: never public.
        said = incident.description if declared_by_alert(incident) else d.get("description")
        body = _text(said) or DEFAULT_BODIES[Status.INVESTIGATING]
    elif e.kind is EventKind.UPDATE_POSTED:
        status = _text(d.get("status")) or incident.status.value
        body = _text(d.get("message"))
    elif e.kind is EventKind.STATUS_CHANGED:
        status = _text(d.get("to")) or incident.status.value
        body = DEFAULT_BODIES.get(_status(status), f"Status changed to {status}.")
    elif e.kind is EventKind.RECORDED:
        # A past incident recorded after the fact: its one update says it is over.
        status = Status.RESOLVED.value
        said = incident.description if declared_by_alert(incident) else d.get("description")
        body = _text(said) or DEFAULT_BODIES[Status.RESOLVED]
    elif e.kind is EventKind.RESOLVED:
        status = Status.RESOLVED.value
        body = _text(d.get("message")) or DEFAULT_BODIES[Status.RESOLVED]
    elif e.kind is EventKind.REOPENED:
        status = Status.INVESTIGATING.value
        body = _text(d.get("message")) or "This incident has been reopened; we are investigating."
    elif e.kind is EventKind.RCA_LINKED:
        status = Status.RESOLVED.value
        body = f"The root cause analysis has been published: {_text(d.get('url'))}"
    else:
        # Severity and component changes show in the incident header and the
        # component list; role, alert and follow-up events are internal.
        return None
    if not body:
        return None
    return PublicUpdate(
        id=e.id, incident_id=incident.id, at=e.at, status=status, body=body, kind=e.kind.value
    )


def _status(text: str) -> Status:
    try:
        return Status(text)
    except ValueError:
        return Status.INVESTIGATING


def incident_impact(incident: Incident, policy: SeverityPolicy) -> str:
    """Statuspage impact of an incident: by severity rank, ``none`` for the lower levels.

    With the default policy SEV1 → critical, SEV2 → major, SEV3 → minor,
    SEV4 → none; ``[severity.KEY] public_impact`` changes it.
    """
    return policy.get(incident.severity).page_impact.value


def worst_status(statuses: Iterable[str]) -> str:
    """The worst of several component statuses (``operational`` when empty)."""
    best = OPERATIONAL
    rank = -1
    for s in statuses:
        r = -1 if s == OPERATIONAL else Impact(s).rank
        if r > rank:
            best, rank = s, r
    return best


def component_statuses(
    components: Sequence[Component],
    open_incidents: Iterable[Incident],
    maintenances: Iterable[PublicMaintenance] = (),
) -> dict[str, str]:
    """Current status of every component: the worst impact among open public incidents,
    ``under_maintenance`` for one in an active maintenance that no incident makes worse."""
    worst: dict[str, Impact] = {}
    for m in maintenances:
        if m.is_active:
            for key in m.components:
                worst[key] = Impact.UNDER_MAINTENANCE
    for inc in open_incidents:
        if not is_public(inc) or not inc.is_open:
            continue
        for key, impact in inc.components.items():
            if key not in worst or impact.rank > worst[key].rank:
                worst[key] = impact
    return {c.key: worst[c.key].value if c.key in worst else OPERATIONAL for c in components}


def overall_status(
    open_incidents: Iterable[Incident],
    policy: SeverityPolicy,
    maintenances: Iterable[PublicMaintenance] = (),
) -> Overall:
    """The banner: the worst component impact of open public incidents.

    An open incident naming no component counts at its severity's default
    impact (a SEV1 with no component is still a major outage). A maintenance
    in progress makes an otherwise operational page ``maintenance``.
    """
    result = Overall.OPERATIONAL
    if any(m.is_active for m in maintenances):
        result = Overall.MAINTENANCE
    for inc in open_incidents:
        if not is_public(inc) or not inc.is_open:
            continue
        impacts = list(inc.components.values()) or [policy.get(inc.severity).impact]
        for impact in impacts:
            candidate = _FROM_IMPACT[impact]
            if candidate.rank > result.rank:
                result = candidate
    return result


def all_components(
    configured: Sequence[Component],
    incidents: Iterable[Incident],
    maintenances: Iterable[PublicMaintenance] = (),
) -> list[Component]:
    """The configured/stored components, plus any key public incidents (or listed
    maintenances) name that is not declared."""
    known = {c.key for c in configured}
    extra: dict[str, Component] = {}
    base = max((c.position for c in configured), default=-1) + 1
    named = [list(inc.components) for inc in incidents if is_public(inc)]
    named += [list(m.components) for m in maintenances if m.status in LISTED_MAINTENANCE]
    for keys in named:
        for key in keys:
            if key not in known and key not in extra:
                extra[key] = Component(key=key, position=base + len(extra))
    return list(configured) + sorted(extra.values(), key=lambda c: c.key)


def group_components(views: Sequence[ComponentView]) -> list[ComponentGroup]:
    """Group components by their ``group``, keeping first-seen order; ungrouped ones first."""
    order: list[str] = []
    members: dict[str, list[ComponentView]] = {}
    for v in sorted(views, key=lambda v: (v.component.position, v.key)):
        g = v.component.group
        if g not in members:
            members[g] = []
            order.append(g)
        members[g].append(v)
    order.sort(key=lambda g: g != "")
    return [ComponentGroup(name=g, components=tuple(members[g])) for g in order]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _outside(start: datetime, end: datetime, windows: Sequence[tuple[datetime, datetime]]) -> float:
    """Minutes of ``[start, end]`` outside every window (the windows may overlap)."""
    cuts = sorted((max(s, start), min(e, end)) for s, e in windows if s < end and e > start)
    covered = 0.0
    cursor = start
    for s, e in cuts:
        s = max(s, cursor)
        if e > s:
            covered += (e - s).total_seconds()
            cursor = e
    return max(0.0, (end - start).total_seconds() - covered) / 60


def uptime_days(
    key: str,
    incidents: Iterable[Incident],
    *,
    now: datetime,
    days: int = UPTIME_DAYS,
    maintenances: Iterable[PublicMaintenance] = (),
) -> tuple[list[UptimeDay], float]:
    """One component's bar: ``days`` days ending today (UTC), and its uptime percentage.

    An incident counts on every day between its start and its resolve (now,
    while open). Downtime is weighted: major outage 100 %, partial outage
    30 %, degraded performance and maintenance 0 %. Time inside a maintenance
    window on this component is planned: it is listed on the day and is never
    downtime, even when an incident overlaps it.
    """
    planned = [
        (m, w) for m in maintenances if key in m.components and (w := m.window(now)) is not None
    ]
    windows = [w for _, w in planned]
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    window_start, _ = _day_bounds(first)
    touching = [
        i
        for i in incidents
        if is_public(i)
        and key in i.components
        and (i.resolved_at or now) >= window_start
        and i.started_at <= now
    ]
    bounds = []
    for n in range(days):
        start, end = _day_bounds(first + timedelta(days=n))
        bounds.append((start, min(end, now)))
    # Each incident is checked against the days it may touch only (the day
    # before its start, as one starting at midnight also ends the day before,
    # to its last), not against all 90: the same result, far fewer steps.
    per_day: list[list[Incident]] = [[] for _ in range(days)]
    for inc in touching:
        lo = max(0, (inc.started_at.astimezone(UTC).date() - first).days - 1)
        last = (inc.resolved_at or now).astimezone(UTC).date()
        for n in range(lo, min(days - 1, (last - first).days) + 1):
            per_day[n].append(inc)
    out: list[UptimeDay] = []
    total_down = 0.0
    total_minutes = 0.0
    for n in range(days):
        day = first + timedelta(days=n)
        start, end = bounds[n]
        if end <= start:
            out.append(UptimeDay(day=day, worst=None))
            continue
        total_minutes += (end - start).total_seconds() / 60
        worst: Impact | None = None
        listed: list[tuple[str, str, str]] = []
        down = 0.0
        for m, (ws, we) in planned:
            if ws < end and (we > start or ws == we >= start):
                listed.append((m.ref, m.title, Impact.UNDER_MAINTENANCE.value))
                worst = Impact.UNDER_MAINTENANCE
        for inc in per_day[n]:
            s = max(inc.started_at, start)
            e = min(inc.resolved_at or now, end)
            if e < s or (e == s and inc.started_at != s):
                continue
            impact = inc.components[key]
            listed.append((inc.ref, inc.title, impact.value))
            if worst is None or impact.rank > worst.rank:
                worst = impact
            minutes = _outside(s, e, windows) if windows else (e - s).total_seconds() / 60
            if impact is Impact.MAJOR_OUTAGE:
                down += minutes
            elif impact is Impact.PARTIAL_OUTAGE:
                down += minutes * PARTIAL_WEIGHT
        down = min(down, (end - start).total_seconds() / 60)
        total_down += down
        out.append(UptimeDay(day=day, worst=worst, incidents=tuple(listed), down_minutes=down))
    uptime = 100.0 if total_minutes == 0 else max(0.0, 100.0 * (1 - total_down / total_minutes))
    return out, uptime


def component_views(
    components: Sequence[Component],
    incidents: Sequence[Incident],
    *,
    now: datetime,
    days: int = UPTIME_DAYS,
    maintenances: Sequence[PublicMaintenance] = (),
) -> list[ComponentView]:
    """Every component with its status and uptime bar."""
    statuses = component_statuses(components, [i for i in incidents if i.is_open], maintenances)
    views = []
    for c in components:
        bar, uptime = uptime_days(c.key, incidents, now=now, days=days, maintenances=maintenances)
        views.append(
            ComponentView(component=c, status=statuses[c.key], days=tuple(bar), uptime=uptime)
        )
    return views


def incidents_by_day(
    incidents: Iterable[PublicIncident], *, now: datetime, days: int
) -> list[tuple[date, list[PublicIncident]]]:
    """Past incidents grouped by the day they started, newest day first, empty days included."""
    today = now.astimezone(UTC).date()
    buckets: dict[date, list[PublicIncident]] = {today - timedelta(days=n): [] for n in range(days)}
    for p in incidents:
        d = p.incident.started_at.astimezone(UTC).date()
        if d in buckets:
            buckets[d].append(p)
    for items in buckets.values():
        items.sort(key=lambda p: (p.incident.started_at, p.id), reverse=True)
    return sorted(buckets.items(), key=lambda kv: kv[0], reverse=True)


def label(value: str) -> str:
    """``partial_outage`` → ``Partial outage``."""
    text = value.replace("_", " ")
    return text[:1].upper() + text[1:]


def severity_labels(policy: SeverityPolicy) -> Mapping[str, str]:
    """Severity key → human label (``SEV1`` → ``Critical``)."""
    return {lv.key: lv.label for lv in policy.levels}


def impact_labels(policy: SeverityPolicy) -> Mapping[str, str]:
    """Severity key → what public pages show (``SEV2`` → ``Major impact``).

    Customers read impact, as on Statuspage, not the team's severity names.
    """
    words = {"critical": "Critical", "major": "Major", "minor": "Minor", "none": "No"}
    return {lv.key: f"{words[lv.page_impact.value]} impact" for lv in policy.levels}
