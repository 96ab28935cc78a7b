"""Shared builders for the SqlStore tests (imported by conftest and the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crashbot_core.models import Actor, Incident, Status
from crashbot_core.store import Saved

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ALICE = Actor(platform="slack", id="U1", name="alice")
BOB = Actor(platform="discord", id="42", name="bob")

#: The ``declare`` fixture: commits a new incident; keyword arguments set its fields.
DeclareFn = Callable[..., Saved]


def new_incident(**changes: Any) -> Incident:
    """An unsaved incident with sensible defaults."""
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
