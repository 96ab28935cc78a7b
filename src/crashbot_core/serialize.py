"""Plain-data (JSON-ready) forms of the models, via one cattrs converter.

Kept out of the domain classes (attrs' "why": serialisation is the caller's
concern). Datetimes become ISO 8601 strings in UTC with a ``Z``.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

import cattrs

from crashbot_core.models import ApiToken, Delivery, Event, FollowUp, Incident, Maintenance


def iso(value: datetime | None) -> str | None:
    """``2026-01-01T09:00:00Z`` (UTC, seconds precision kept if present), or None."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Read an ISO 8601 instant (``Z`` or offset); naive input is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _make() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_unstructure_hook(datetime, iso)
    conv.register_unstructure_hook(date, lambda d: d.isoformat())
    conv.register_unstructure_hook(enum.Enum, lambda e: e.value)
    conv.register_structure_hook(datetime, lambda v, _: parse_iso(v))
    conv.register_structure_hook(date, lambda v, _: date.fromisoformat(v))
    return conv


converter = _make()


def incident_dict(incident: Incident) -> dict[str, Any]:
    """An incident as plain data (every field, internal refs included)."""
    data: dict[str, Any] = converter.unstructure(incident)
    return data


def event_dict(event: Event) -> dict[str, Any]:
    """A timeline event as plain data."""
    data: dict[str, Any] = converter.unstructure(event)
    return data


def follow_up_dict(follow_up: FollowUp) -> dict[str, Any]:
    """A follow-up as plain data."""
    data: dict[str, Any] = converter.unstructure(follow_up)
    return data


def delivery_dict(delivery: Delivery) -> dict[str, Any]:
    """A delivery as plain data."""
    data: dict[str, Any] = converter.unstructure(delivery)
    return data


def maintenance_dict(maintenance: Maintenance) -> dict[str, Any]:
    """A maintenance as plain data (who scheduled and updated it included: admin views only)."""
    data: dict[str, Any] = converter.unstructure(maintenance)
    return data


def token_dict(token: ApiToken) -> dict[str, Any]:
    """An API token as shown to people: name, scope and times; never the hash or the secret."""
    return {
        "name": token.name,
        "scope": token.scope.value,
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }
