"""The ``GET /api/list`` shape (the seed ADR's endpoint), as pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crashbot_core.serialize import iso
from crashbot_core.severity import SeverityPolicy
from crashbot_status import public
from crashbot_status.public import PublicIncident


def incident_public_dict(
    p: PublicIncident, policy: SeverityPolicy, base_url: str
) -> dict[str, Any]:
    """One public incident: identity, text, severity, status, components, times, updates."""
    inc = p.incident
    level = policy.get(inc.severity)
    return {
        "id": inc.id,
        "ref": inc.ref,
        "title": inc.title,
        "description": inc.description,
        "severity": inc.severity,
        "severity_label": level.label,
        "impact": public.incident_impact(inc, policy),
        "status": inc.status.value,
        "components": {k: v.value for k, v in sorted(inc.components.items())},
        "reported_at": iso(inc.declared_at),
        "started_at": iso(inc.started_at),
        "resolved_at": iso(inc.resolved_at),
        "updated_at": iso(p.updated_at),
        "rca_url": inc.rca_url,
        "url": f"{base_url.rstrip('/')}/incidents/{inc.id}",
        "updates": [
            {"id": u.id, "at": iso(u.at), "status": u.status, "body": u.body} for u in p.updates
        ],
    }


def listing(
    open_: Sequence[PublicIncident],
    closed: Sequence[PublicIncident],
    policy: SeverityPolicy,
    base_url: str,
) -> dict[str, list[dict[str, Any]]]:
    """``{"open": [...], "closed": [...]}``, each newest first."""
    return {
        "open": [incident_public_dict(p, policy, base_url) for p in open_],
        "closed": [incident_public_dict(p, policy, base_url) for p in closed],
    }
