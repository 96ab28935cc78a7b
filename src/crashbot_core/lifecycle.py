"""Pure transitions: (incident, command) → (new incident, events).

Nothing here reads a clock or a store; the service passes ``now`` in. Each
function validates the command against the current state and raises a domain
error naming what was asked, the current state and what is allowed.
The returned incident has the same ``version``; the store bumps it on save.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from crashbot_core.errors import IllegalTransition, InvalidInput
from crashbot_core.inputs import (
    clean_components,
    clean_labels,
    clean_text,
    clean_title,
    clean_url,
)
from crashbot_core.models import (
    OPEN_STATUSES,
    Actor,
    Event,
    EventKind,
    Impact,
    Incident,
    Resolution,
    Status,
)
from crashbot_core.roles import COMMANDER, Role
from crashbot_core.severity import Severity

Result = tuple[Incident, list[Event]]


class StateConflict(InvalidInput):
    """A well-formed request the current state refuses: nothing would change, or a time
    later than the clock. Same request, other moment: it may succeed (HTTP 409, not 422)."""

    code = "conflict"
    http_status = 409


#: ``Incident.refs`` key set when someone unpublished an incident, or declared it
#: private on purpose: a later
#: promotion to a severity that is public by default leaves it private.
UNPUBLISHED_REF = "crashbot.unpublished"


def _allowed(incident: Incident) -> list[str]:
    """Commands a user may run now, for error messages."""
    if incident.status is Status.RESOLVED:
        return ["reopen", "rca", "post an update", "change severity", "add a follow-up"]
    allowed = ["update", "set status " + "/".join(s.value for s in OPEN_STATUSES), "resolve"]
    if incident.acknowledged_at is None:
        allowed.append("ack")
    return allowed


def _event(kind: EventKind, now: datetime, actor: Actor, public: bool, **data: Any) -> Event:
    return Event(kind=kind, at=now, actor=actor, data=data, public=public)


def declare(
    *,
    title: str,
    severity: Severity,
    actor: Actor,
    now: datetime,
    description: str = "",
    public: bool | None = None,
    components: Mapping[str, Impact | str | None] | None = None,
    labels: Mapping[str, str] | None = None,
    source: str = "api",
    started_at: datetime | None = None,
) -> Result:
    """A new incident (id 0 until stored) and its ``declared`` event.

    Components named without an impact get the severity's default impact;
    ``public`` defaults to the severity's setting.
    """
    if started_at is not None and started_at > now:
        raise StateConflict(
            f"started_at {started_at.isoformat()} is in the future "
            f"(later than the server's clock, {now.isoformat()})"
        )
    comps = clean_components(
        {k: (v if v is not None else severity.impact) for k, v in (components or {}).items()}
    )
    is_public = severity.public if public is None else public
    incident = Incident(
        id=0,
        ref="",
        title=clean_title(title),
        description=clean_text(description, "description"),
        severity=severity.key,
        status=Status.INVESTIGATING,
        public=is_public,
        components=comps,
        labels=clean_labels(labels or {}),
        declared_at=now,
        started_at=started_at or now,
        last_update_at=now,
        source=source,
        declared_by=actor,
        # Declared private on purpose: a promotion must not publish it.
        refs={UNPUBLISHED_REF: now.isoformat()} if public is False else {},
    )
    event = _event(
        EventKind.DECLARED,
        now,
        actor,
        is_public,
        title=incident.title,
        description=incident.description,
        severity=severity.key,
        status=Status.INVESTIGATING.value,
        components={k: v.value for k, v in comps.items()},
        source=source,
    )
    return incident, [event]


def acknowledge(incident: Incident, *, actor: Actor, now: datetime) -> Result:
    """Mark the incident acknowledged (stops the escalation clock)."""
    if not incident.is_open:
        raise IllegalTransition("acknowledge", incident.status.value, _allowed(incident))
    if incident.acknowledged_at is not None:
        raise IllegalTransition(
            "acknowledge",
            "already acknowledged at " + incident.acknowledged_at.strftime("%Y-%m-%d %H:%M UTC"),
            _allowed(incident),
        )
    new = incident.with_changes(acknowledged_at=now)
    return new, [_event(EventKind.ACKNOWLEDGED, now, actor, False)]


def update(
    incident: Incident,
    *,
    actor: Actor,
    now: datetime,
    status: Status | None = None,
    severity: Severity | None = None,
    message: str | None = None,
    public: bool = False,
) -> Result:
    """Change status and/or severity and/or post a message.

    A public message becomes one ``update_posted`` event carrying the status
    (the status page shows it as one update); otherwise a status change is a
    ``status_changed`` event of its own beside the internal message.
    ``public`` applies to the message; status and severity changes on a
    public incident are public. Moving to ``resolved``
    goes through :func:`resolve`.
    """
    text = clean_text(message, "message") if message is not None else ""
    if status is None and severity is None and not text:
        raise InvalidInput("nothing to update: give a status, a severity or a message")
    if status is Status.RESOLVED:
        new, before = incident, list[Event]()
        if severity is not None and severity.key != incident.severity:
            new, before = update(new, actor=actor, now=now, severity=severity)
        new, more = resolve(new, actor=actor, now=now, message=text or None, public=public)
        return new, before + more
    if status is not None and not incident.is_open:
        raise IllegalTransition(
            f"set status {status.value}",
            incident.status.value,
            _allowed(incident),
            why="reopen it first",
        )
    events: list[Event] = []
    changes: dict[str, Any] = {}
    status_changed = status is not None and status is not incident.status
    if severity is not None and severity.key != incident.severity:
        events.append(
            _event(
                EventKind.SEVERITY_CHANGED,
                now,
                actor,
                incident.public,
                **{"from": incident.severity, "to": severity.key},
            )
        )
        changes["severity"] = severity.key
    if status_changed:
        assert status is not None
        changes["status"] = status
        if status is Status.MONITORING and incident.mitigated_at is None:
            changes["mitigated_at"] = now
        # A public message carries the status change (one update on the status
        # page); otherwise the change is its own event, so the public timeline
        # shows it without the internal message.
        if not (text and public and incident.public):
            events.append(
                _event(
                    EventKind.STATUS_CHANGED,
                    now,
                    actor,
                    incident.public,
                    **{"from": incident.status.value, "to": status.value},
                )
            )
    if text:
        data: dict[str, Any] = {"message": text, "status": (status or incident.status).value}
        if status_changed and public and incident.public:
            data["previous_status"] = incident.status.value
        events.append(
            _event(EventKind.UPDATE_POSTED, now, actor, public and incident.public, **data)
        )
        changes["last_update_at"] = now
    elif status_changed:
        changes["last_update_at"] = now
    if not events:
        raise StateConflict(
            f"nothing changed: the incident is already {incident.status.value} at {incident.severity}"
        )
    return incident.with_changes(**changes), events


def assign_role(
    incident: Incident, *, role: Role, user: Actor, actor: Actor, now: datetime
) -> Result:
    """Give ``role`` to ``user``. Taking the commander role acknowledges the incident."""
    if not incident.is_open:
        raise IllegalTransition(f"assign {role.key}", incident.status.value, _allowed(incident))
    current = incident.roles.get(role.key)
    if current is not None and (current.platform, current.id) == (user.platform, user.id):
        raise InvalidInput(f"{user.display} already is {role.name} of {incident.ref}")
    roles = {**incident.roles, role.key: user}
    events = [
        _event(
            EventKind.ROLE_ASSIGNED,
            now,
            actor,
            False,
            role=role.key,
            user=attrs.asdict(user),
            previous=attrs.asdict(current) if current else None,
        )
    ]
    changes: dict[str, Any] = {"roles": roles}
    if role.key == COMMANDER and incident.acknowledged_at is None:
        changes["acknowledged_at"] = now
        events.append(_event(EventKind.ACKNOWLEDGED, now, user, False, via="commander"))
    return incident.with_changes(**changes), events


def unassign_role(incident: Incident, *, role: Role, actor: Actor, now: datetime) -> Result:
    """Take a role away from whoever holds it."""
    current = incident.roles.get(role.key)
    if current is None:
        raise InvalidInput(f"nobody is {role.name} of {incident.ref}")
    roles = {k: v for k, v in incident.roles.items() if k != role.key}
    event = _event(
        EventKind.ROLE_UNASSIGNED, now, actor, False, role=role.key, user=attrs.asdict(current)
    )
    return incident.with_changes(roles=roles), [event]


def set_components(
    incident: Incident,
    *,
    components: Mapping[str, Impact | str],
    actor: Actor,
    now: datetime,
) -> Result:
    """Replace the affected components and their impact."""
    comps = clean_components(components)
    if comps == incident.components:
        raise StateConflict("nothing changed: the components are already set that way")
    event = _event(
        EventKind.COMPONENTS_CHANGED,
        now,
        actor,
        incident.public,
        **{
            "from": {k: v.value for k, v in incident.components.items()},
            "to": {k: v.value for k, v in comps.items()},
        },
    )
    return incident.with_changes(components=comps), [event]


def resolve(
    incident: Incident,
    *,
    actor: Actor,
    now: datetime,
    message: str | None = None,
    public: bool | None = None,
) -> Result:
    """Close the incident. If it never reached monitoring, mitigation counts from now.

    The resolve message is public on a public incident unless ``public=False``.
    """
    if not incident.is_open:
        raise IllegalTransition("resolve", incident.status.value, _allowed(incident))
    text = clean_text(message, "message")
    changes: dict[str, Any] = {
        "status": Status.RESOLVED,
        "resolved_at": now,
        "last_update_at": now,
        "resolution": Resolution.RESOLVED,
    }
    if incident.mitigated_at is None:
        changes["mitigated_at"] = now
    is_public = incident.public and (public is None or public)
    event = _event(
        EventKind.RESOLVED,
        now,
        actor,
        is_public,
        message=text,
        previous_status=incident.status.value,
    )
    return incident.with_changes(**changes), [event]


def publish(incident: Incident, *, actor: Actor, now: datetime, message: str) -> Result:
    """Show the incident on the status page; ``message`` is its first public update.

    What was internal stays internal: only events from now on may be public.

    :raises StateConflict: it is public already.
    """
    if incident.public:
        raise StateConflict(f"{incident.ref} is public already")
    text = clean_text(message, "message")
    if not text:
        raise InvalidInput("say in a few words what the public should know")
    refs = {k: v for k, v in incident.refs.items() if k != UNPUBLISHED_REF}
    new = incident.with_changes(public=True, refs=refs, last_update_at=now)
    events = [
        _event(EventKind.VISIBILITY_CHANGED, now, actor, False, to="public"),
        _event(
            EventKind.UPDATE_POSTED, now, actor, True, message=text, status=incident.status.value
        ),
    ]
    return new, events


def unpublish(incident: Incident, *, actor: Actor, now: datetime) -> Result:
    """Take the incident off every public output, and keep promotions from publishing it again.

    :raises StateConflict: it is not public.
    """
    if not incident.public:
        raise StateConflict(f"{incident.ref} is not public")
    refs = {**incident.refs, UNPUBLISHED_REF: now.isoformat()}
    new = incident.with_changes(public=False, refs=refs)
    return new, [_event(EventKind.VISIBILITY_CHANGED, now, actor, False, to="private")]


def reopen(
    incident: Incident, *, actor: Actor, now: datetime, message: str | None = None
) -> Result:
    """Reopen a resolved incident: back to investigating."""
    if incident.is_open:
        raise IllegalTransition("reopen", incident.status.value, _allowed(incident))
    text = clean_text(message, "message")
    new = incident.with_changes(
        status=Status.INVESTIGATING,
        resolved_at=None,
        last_update_at=now,
        resolution=None,
        duplicate_of=None,
    )
    event = _event(EventKind.REOPENED, now, actor, incident.public, message=text)
    return new, [event]


def link_rca(incident: Incident, *, url: str, actor: Actor, now: datetime) -> Result:
    """Attach the RCA / postmortem link. Only a resolved incident has one."""
    if incident.is_open:
        raise IllegalTransition(
            "link an RCA",
            incident.status.value,
            _allowed(incident),
            why="resolve it first",
        )
    value = clean_url(url)
    event = _event(
        EventKind.RCA_LINKED, now, actor, incident.public, url=value, previous=incident.rca_url
    )
    return incident.with_changes(rca_url=value), [event]


def attach_alert(
    incident: Incident,
    *,
    alert_id: int,
    source: str,
    fingerprint: str,
    title: str,
    alert_status: str,
    actor: Actor,
    now: datetime,
) -> Result:
    """Record that an alert fired (or resolved) for this incident."""
    event = _event(
        EventKind.ALERT_ATTACHED,
        now,
        actor,
        False,
        alert_id=alert_id,
        source=source,
        fingerprint=fingerprint,
        title=title,
        status=alert_status,
    )
    return incident, [event]


def note(
    incident: Incident, *, kind: EventKind, actor: Actor, now: datetime, **data: Any
) -> Result:
    """An internal event that changes no field (follow-ups, reminders, exports)."""
    return incident, [_event(kind, now, actor, False, **data)]
