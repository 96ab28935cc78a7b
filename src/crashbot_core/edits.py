"""Correcting the record: edits of a stored incident and incidents recorded after the fact.

Pure transitions, like :mod:`crashbot_core.lifecycle`. Every edit is an
internal ``edited`` event per field (who, old → new), so the record says who
corrected what. The times of an incident must stay in order
(:func:`check_times`) and never lie in the future.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crashbot_core.errors import IllegalTransition, InvalidInput
from crashbot_core.inputs import clean_components, clean_labels, clean_text, clean_title
from crashbot_core.lifecycle import UNPUBLISHED_REF, Result, StateConflict
from crashbot_core.models import (
    RETROSPECTIVE_REF,
    Actor,
    Event,
    EventKind,
    Impact,
    Incident,
    Resolution,
    Status,
)
from crashbot_core.serialize import iso
from crashbot_core.severity import Severity

#: The times of an incident, in the order they must keep. ``detected_at`` and
#: ``started_at`` both come before acknowledgement, and impact starts before
#: (or when) it is detected.
TIME_FIELDS = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")


def check_times(times: Mapping[str, datetime | None], now: datetime) -> None:
    """Refuse times out of order or in the future.

    The rule: started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved (equal
    times are allowed; a missing time is skipped). No time is later than now.

    :raises InvalidInput: naming the rule that was broken (HTTP 422).
    :raises StateConflict: a time later than ``now`` (HTTP 409, as for ``declare``).
    """
    for name in TIME_FIELDS:
        value = times.get(name)
        if value is not None and value > now:
            raise StateConflict(
                f"{name} {iso(value)} is in the future (later than the server's clock, {iso(now)})"
            )
    known = [(name, times[name]) for name in TIME_FIELDS if times.get(name) is not None]
    for (first, a), (second, b) in itertools.pairwise(known):
        assert a is not None and b is not None
        if a > b:
            raise InvalidInput(
                f"{second} ({iso(b)}) is before {first} ({iso(a)}); times must keep the order "
                "started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved"
            )


def times_of(incident: Incident) -> dict[str, datetime | None]:
    """The incident's times as :func:`check_times` reads them (detected: see ``Incident.detected``)."""
    return {
        "started_at": incident.started_at,
        "detected_at": incident.detected,
        "acknowledged_at": incident.acknowledged_at,
        "mitigated_at": incident.mitigated_at,
        "resolved_at": incident.resolved_at,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {k: v.value if isinstance(v, Impact) else v for k, v in value.items()}
    return value


def edit(
    incident: Incident,
    *,
    actor: Actor,
    now: datetime,
    title: str | None = None,
    description: str | None = None,
    components: Mapping[str, Impact | str] | None = None,
    remove_components: tuple[str, ...] = (),
    times: Mapping[str, datetime] | None = None,
) -> Result:
    """Correct fields of the record; one internal ``edited`` event per changed field.

    :param components: components to add or whose impact to set.
    :param remove_components: component keys to take off.
    :param times: new values for :data:`TIME_FIELDS` (a ``resolved_at`` only on
        a resolved incident).
    :raises InvalidInput: a bad value, an unknown time field, or times out of order.
    :raises StateConflict: nothing would change, or a time in the future.
    """
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = clean_title(title)
    if description is not None:
        changes["description"] = clean_text(description, "description")
    if components or remove_components:
        comps = {**incident.components, **clean_components(components or {})}
        for key in remove_components:
            k = key.strip().lower()
            if k not in comps:
                raise StateConflict(f"{incident.ref} has no component {key[:80]!r} to remove")
            del comps[k]
        changes["components"] = comps
    for name, value in (times or {}).items():
        if name not in TIME_FIELDS:
            raise InvalidInput(f"unknown time {name!r}; expected one of {', '.join(TIME_FIELDS)}")
        if name == "resolved_at" and incident.status is not Status.RESOLVED:
            raise IllegalTransition(
                "edit resolved_at", incident.status.value, ["resolve"], why="it is not resolved"
            )
        changes[name] = value
    if not changes:
        raise InvalidInput("nothing to edit: give a title, description, component or time")
    old = {name: getattr(incident, name) for name in changes}
    changed = {k: v for k, v in changes.items() if v != old[k]}
    if not changed:
        raise StateConflict("nothing changed: the record already says so")
    new = incident.with_changes(**changed)
    check_times(times_of(new), now)
    events = [
        Event(
            kind=EventKind.EDITED,
            at=now,
            actor=actor,
            data={"field": name, "from": _plain(old[name]), "to": _plain(value)},
        )
        for name, value in changed.items()
    ]
    return new, events


def record_retrospective(
    *,
    title: str,
    severity: Severity,
    actor: Actor,
    now: datetime,
    started_at: datetime,
    resolved_at: datetime,
    detected_at: datetime | None = None,
    acknowledged_at: datetime | None = None,
    mitigated_at: datetime | None = None,
    description: str = "",
    public: bool | None = None,
    components: Mapping[str, Impact | str | None] | None = None,
    labels: Mapping[str, str] | None = None,
    source: str = "api",
) -> Result:
    """A past incident, stored resolved, and its one ``recorded`` event.

    It is resolved already, so nobody is paged and no reminder is due for it
    (:data:`~crashbot_core.models.RETROSPECTIVE_REF` marks it). Missing
    acknowledge and mitigation times are left empty: metrics count only what
    was known. ``detected_at`` defaults to ``started_at``.

    :raises InvalidInput: times out of order, or bad text.
    :raises StateConflict: a time in the future.
    """
    detected = detected_at or started_at
    check_times(
        {
            "started_at": started_at,
            "detected_at": detected,
            "acknowledged_at": acknowledged_at,
            "mitigated_at": mitigated_at,
            "resolved_at": resolved_at,
        },
        now,
    )
    comps = clean_components(
        {k: (v if v is not None else severity.impact) for k, v in (components or {}).items()}
    )
    is_public = severity.public if public is None else public
    refs = {RETROSPECTIVE_REF: now.isoformat()}
    if public is False:
        refs[UNPUBLISHED_REF] = now.isoformat()
    incident = Incident(
        id=0,
        ref="",
        title=clean_title(title),
        description=clean_text(description, "description"),
        severity=severity.key,
        status=Status.RESOLVED,
        public=is_public,
        components=comps,
        labels=clean_labels(labels or {}),
        declared_at=now,
        started_at=started_at,
        detected_at=detected,
        acknowledged_at=acknowledged_at,
        mitigated_at=mitigated_at,
        resolved_at=resolved_at,
        last_update_at=now,
        source=source,
        declared_by=actor,
        refs=refs,
        resolution=Resolution.RESOLVED,
    )
    event = Event(
        kind=EventKind.RECORDED,
        at=now,
        actor=actor,
        public=is_public,
        data={
            "title": incident.title,
            "description": incident.description,
            "severity": severity.key,
            "components": {k: v.value for k, v in comps.items()},
            "source": source,
            **{name: iso(value) for name, value in times_of(incident).items()},
        },
    )
    return incident, [event]
