"""How an incident can end besides being resolved: invalid, or a duplicate merged into another.

Pure transitions, like :mod:`crashbot_core.lifecycle`: (incident, command) →
(new incident, events). Both endings keep status ``resolved`` (Statuspage
knows no other closed status) and set :attr:`~crashbot_core.models.Incident.resolution`;
an incident closed so no longer :attr:`~crashbot_core.models.Incident.counts`:
it is left out of the metrics, ``/api/list`` and the status page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crashbot_core.errors import InvalidInput
from crashbot_core.inputs import clean_text
from crashbot_core.lifecycle import Result, StateConflict
from crashbot_core.models import (
    Actor,
    Alert,
    Event,
    EventKind,
    FollowUp,
    Incident,
    Resolution,
    Status,
)


def _ended(incident: Incident) -> None:
    """Refuse closing an incident that is closed as invalid or duplicate already."""
    if incident.resolution in (Resolution.INVALID, Resolution.DUPLICATE):
        assert incident.resolution is not None
        where = (
            f" of #{incident.duplicate_of}"
            if incident.resolution is Resolution.DUPLICATE and incident.duplicate_of
            else ""
        )
        raise StateConflict(
            f"{incident.ref} is closed as {incident.resolution.value}{where} already; "
            "reopen it first to close it another way"
        )


def _close(
    incident: Incident, resolution: Resolution, now: datetime, **more: Any
) -> dict[str, Any]:
    """The field changes of closing ``incident`` with ``resolution``.

    An incident resolved before keeps its resolve time: it ended then; only
    how it ended is corrected.
    """
    changes: dict[str, Any] = {"status": Status.RESOLVED, "resolution": resolution, **more}
    if incident.resolved_at is None:
        changes["resolved_at"] = now
        changes["last_update_at"] = now
    return changes


def close_invalid(
    incident: Incident, *, actor: Actor, now: datetime, message: str | None = None
) -> Result:
    """Close the incident as invalid (a false alarm, a test): it ends and counts nowhere.

    :raises StateConflict: it is closed as invalid or duplicate already.
    """
    _ended(incident)
    text = clean_text(message, "message")
    event = Event(
        kind=EventKind.CLOSED,
        at=now,
        actor=actor,
        data={
            "resolution": Resolution.INVALID.value,
            "message": text,
            "previous_status": incident.status.value,
        },
    )
    return incident.with_changes(**_close(incident, Resolution.INVALID, now)), [event]


def check_merge(duplicate: Incident, original: Incident, *, merged_into_duplicate: bool) -> None:
    """Refuse a merge that would make a cycle or a chain of duplicates.

    :param merged_into_duplicate: other duplicates were merged into ``duplicate``
        already (its timeline has ``merged`` events).
    :raises InvalidInput: the same incident.
    :raises StateConflict: an original that is itself closed as invalid or
        duplicate, a duplicate others were merged into, or one closed already.
    """
    if duplicate.id == original.id:
        raise InvalidInput(f"{duplicate.ref} cannot be a duplicate of itself")
    # The others depend on how the incidents ended, which a reopen changes: 409.
    if original.resolution is Resolution.DUPLICATE:
        raise StateConflict(
            f"{original.ref} is itself a duplicate of #{original.duplicate_of}; "
            f"close {duplicate.ref} as a duplicate of #{original.duplicate_of} instead"
        )
    if original.resolution is Resolution.INVALID:
        raise StateConflict(
            f"{original.ref} is closed as invalid; a duplicate needs an original that counts"
        )
    _ended(duplicate)
    if merged_into_duplicate:
        raise StateConflict(
            f"other incidents were merged into {duplicate.ref}; close {original.ref} "
            f"as a duplicate of {duplicate.ref} instead (duplicates do not chain)"
        )


def merge(
    duplicate: Incident,
    original: Incident,
    *,
    alerts: Sequence[Alert],
    follow_ups: Sequence[FollowUp],
    actor: Actor,
    now: datetime,
    message: str | None = None,
) -> tuple[Result, Result]:
    """Close ``duplicate`` as a duplicate of ``original``; both timelines name the other.

    The caller moves ``alerts`` and ``follow_ups`` (the duplicate's) to the
    original in the same transaction as both results (their ids go into the
    original's change).

    :returns: the duplicate's and the original's result.
    :raises InvalidInput: see :func:`check_merge` (called by the caller, who
        knows whether others were merged into ``duplicate``).
    """
    text = clean_text(message, "message")
    closed = Event(
        kind=EventKind.CLOSED,
        at=now,
        actor=actor,
        data={
            "resolution": Resolution.DUPLICATE.value,
            "message": text,
            "previous_status": duplicate.status.value,
            "duplicate_of": original.id,
            "original_ref": original.ref,
        },
    )
    merged = Event(
        kind=EventKind.MERGED,
        at=now,
        actor=actor,
        data={
            "duplicate_id": duplicate.id,
            "duplicate_ref": duplicate.ref,
            "title": duplicate.title,
            "message": text,
            "alerts": len(alerts),
            "follow_ups": len(follow_ups),
        },
    )
    new_duplicate = duplicate.with_changes(
        **_close(duplicate, Resolution.DUPLICATE, now, duplicate_of=original.id)
    )
    return (new_duplicate, [closed]), (original, [merged])
