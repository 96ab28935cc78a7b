"""The records the store contract's suites build: incidents, events, commits.

Shared by :mod:`crashbot_core.store_contract` and its parts
(:mod:`crashbot_core.store_contract_bulk`,
:mod:`crashbot_core.store_contract_subscriptions`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crashbot_core.models import Actor, Event, EventKind, Incident, Status
from crashbot_core.store import Change, Saved, Store

#: When the contract's incidents start.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = Actor(platform="cli", id="alice", name="Alice")
LEASE = T0 + timedelta(minutes=2)
SECOND = timedelta(seconds=1)


def new_incident(**changes: Any) -> Incident:
    """An unsaved SEV2 incident declared by Alice at ``T0``, with ``changes`` applied."""
    fields: dict[str, Any] = {
        "id": 0,
        "ref": "",
        "title": "Checkout is down",
        "severity": "SEV2",
        "status": Status.INVESTIGATING,
        "declared_at": T0,
        "started_at": T0,
        "declared_by": ALICE,
    }
    fields.update(changes)
    return Incident(**fields)


def new_event(
    kind: EventKind = EventKind.UPDATE_POSTED, at: datetime = T0, **changes: Any
) -> Event:
    """An unsaved event by Alice."""
    return Event(kind=kind, at=at, actor=ALICE, **changes)


def declare(store: Store, *, subscribers: tuple[str, ...] = (), **changes: Any) -> Saved:
    """Commit a new incident (:func:`new_incident` with ``changes``) with its ``declared`` event."""
    incident = new_incident(**changes)
    return store.commit(
        Change(
            incident=incident,
            expected_version=None,
            events=[new_event(EventKind.DECLARED, incident.declared_at, public=True)],
            subscribers=subscribers,
        )
    )


def update(store: Store, incident: Incident, *, subscribers: tuple[str, ...] = ()) -> Saved:
    """Commit one update event, a minute after ``T0``, on ``incident`` at its version."""
    return store.commit(
        Change(
            incident=incident,
            expected_version=incident.version,
            events=[new_event(at=T0 + timedelta(minutes=1))],
            subscribers=subscribers,
        )
    )


def send_reminder(store: Store, incident: Incident, key: str, *, owner: str) -> Saved:
    """Commit a ``reminder_sent`` event that settles reminder ``key`` held by ``owner``."""
    return store.commit(
        Change(
            incident,
            expected_version=incident.version,
            events=[new_event(EventKind.REMINDER_SENT, data={"key": key})],
            reminder=(key, owner),
        )
    )
