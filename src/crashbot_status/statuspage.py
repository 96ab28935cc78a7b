"""Atlassian Statuspage v2 JSON shapes (``/api/v2/*.json``), as pure functions.

Field names and enum values are Statuspage's, byte for byte, so existing
widgets, exporters and aggregators read crashbot unchanged. The mapping from
crashbot's model is documented in ``docs/status-page.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from crashbot_core.models import Status
from crashbot_core.severity import SeverityPolicy
from crashbot_status import public
from crashbot_status.public import (
    ComponentView,
    Overall,
    PublicIncident,
    PublicMaintenance,
    PublicUpdate,
)
from crashbot_status.site import Page


def ts(value: datetime | None) -> str | None:
    """Statuspage's timestamp form: ISO 8601 with milliseconds, here always UTC (``Z``)."""
    if value is None:
        return None
    v = value.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"


def page_json(page: Page) -> dict[str, Any]:
    """The ``page`` object every endpoint starts with."""
    return {
        "id": page.id,
        "name": page.name,
        "url": page.url,
        "time_zone": page.time_zone,
        "updated_at": ts(page.updated_at),
    }


def group_id(name: str) -> str:
    """The id of a component group (groups are components with ``group: true``)."""
    slug = "".join(ch.lower() if ch.isalnum() else "-" for ch in name).strip("-")
    return "group-" + (slug or "default")


def _component(
    view: ComponentView, page: Page, *, stamp: datetime, position: int
) -> dict[str, Any]:
    c = view.component
    return {
        "id": c.key,
        "name": c.display,
        "status": view.status,
        "created_at": ts(stamp),
        "updated_at": ts(stamp),
        "position": position,
        "description": c.description or None,
        "showcase": False,
        "start_date": None,
        "group_id": group_id(c.group) if c.group else None,
        "page_id": page.id,
        "group": False,
        "only_show_if_degraded": False,
    }


def components_json(
    views: Sequence[ComponentView], page: Page, *, stamp: datetime | None = None
) -> list[dict[str, Any]]:
    """Components in page order; each named group becomes a ``group: true`` component before its members."""
    when = stamp or page.updated_at
    out: list[dict[str, Any]] = []
    position = 1
    for grp in public.group_components(views):
        if grp.name:
            out.append(
                {
                    "id": group_id(grp.name),
                    "name": grp.name,
                    "status": grp.status,
                    "created_at": ts(when),
                    "updated_at": ts(when),
                    "position": position,
                    "description": None,
                    "showcase": False,
                    "start_date": None,
                    "group_id": None,
                    "page_id": page.id,
                    "group": True,
                    "only_show_if_degraded": False,
                    "components": [v.key for v in grp.components],
                }
            )
            position += 1
        for v in grp.components:
            out.append(_component(v, page, stamp=when, position=position))
            position += 1
    return out


def incident_status(p: PublicIncident) -> str:
    """Our status is Statuspage's (investigating, identified, monitoring, resolved)."""
    return p.incident.status.value


def _affected(
    p: PublicIncident, update: PublicUpdate, names: dict[str, str]
) -> list[dict[str, str]] | None:
    comps = p.incident.components
    if not comps:
        return None
    out = []
    for key, impact in sorted(comps.items()):
        current = impact.value
        if update.kind == "declared":
            old, new = "operational", current
        elif update.status == Status.RESOLVED.value:
            old, new = current, "operational"
        else:
            old = new = current
        out.append({"code": key, "name": names.get(key, key), "old_status": old, "new_status": new})
    return out


def update_json(p: PublicIncident, u: PublicUpdate, names: dict[str, str]) -> dict[str, Any]:
    """One ``incident_updates`` entry."""
    return {
        "id": str(u.id),
        "status": u.status,
        "body": u.body,
        "incident_id": str(p.id),
        "created_at": ts(u.at),
        "updated_at": ts(u.at),
        "display_at": ts(u.at),
        "affected_components": _affected(p, u, names),
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident_json(
    p: PublicIncident,
    page: Page,
    policy: SeverityPolicy,
    views: Sequence[ComponentView],
) -> dict[str, Any]:
    """One incident with ``incident_updates`` (newest first) and full ``components`` objects."""
    inc = p.incident
    by_key = {v.key: v for v in views}
    names = {v.key: v.component.display for v in views}
    comps = [
        _component(by_key[k], page, stamp=page.updated_at, position=i + 1)
        for i, k in enumerate(sorted(inc.components))
        if k in by_key
    ]
    # mitigated_at equals resolved_at when the incident never reached
    # monitoring; Statuspage then has no monitoring_at.
    monitoring_at = inc.mitigated_at
    if (
        monitoring_at is not None
        and inc.resolved_at is not None
        and monitoring_at >= inc.resolved_at
    ):
        monitoring_at = None
    return {
        "id": str(inc.id),
        "name": inc.title,
        "status": incident_status(p),
        "created_at": ts(inc.declared_at),
        "updated_at": ts(p.updated_at),
        "monitoring_at": ts(monitoring_at),
        "resolved_at": ts(inc.resolved_at),
        "impact": public.incident_impact(inc, policy),
        "shortlink": f"{page.url}/incidents/{inc.id}",
        "started_at": ts(inc.started_at),
        "page_id": page.id,
        "incident_updates": [update_json(p, u, names) for u in p.updates],
        "components": comps,
    }


def status_json(overall: Overall) -> dict[str, str]:
    """The ``status`` object: ``indicator`` and ``description``."""
    return {"indicator": overall.indicator, "description": overall.headline}


def _maintenance_affected(
    m: PublicMaintenance, u: PublicUpdate, names: dict[str, str]
) -> list[dict[str, str]] | None:
    if not m.components:
        return None
    under = "under_maintenance"
    old, new = {
        "in_progress": ("operational", under),
        "completed": (under, "operational"),
    }.get(u.status, ("operational", "operational"))
    if u.status == "verifying":
        old = new = under
    return [
        {"code": k, "name": names.get(k, k), "old_status": old, "new_status": new}
        for k in sorted(m.components)
    ]


def maintenance_update_json(
    m: PublicMaintenance, u: PublicUpdate, names: dict[str, str]
) -> dict[str, Any]:
    """One ``incident_updates`` entry of a maintenance (Statuspage keeps the incident names)."""
    return {
        "id": str(u.id),
        "status": u.status,
        "body": u.body,
        "incident_id": str(m.id),
        "created_at": ts(u.at),
        "updated_at": ts(u.at),
        "display_at": ts(u.at),
        "affected_components": _maintenance_affected(m, u, names),
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def maintenance_json(
    m: PublicMaintenance, page: Page, views: Sequence[ComponentView]
) -> dict[str, Any]:
    """One scheduled maintenance: Statuspage's incident shape with ``impact: maintenance``,
    ``scheduled_for`` / ``scheduled_until``, updates newest first and full ``components``."""
    by_key = {v.key: v for v in views}
    names = {v.key: v.component.display for v in views}
    comps = [
        _component(by_key[k], page, stamp=page.updated_at, position=i + 1)
        for i, k in enumerate(sorted(m.components))
        if k in by_key
    ]
    # A maintenance being verified is Statuspage's "monitoring" phase.
    verifying = [u.at for u in m.updates if u.status == "verifying"]
    return {
        "id": str(m.id),
        "name": m.title,
        "status": m.status.value,
        "created_at": ts(m.created_at),
        "updated_at": ts(m.updated_at),
        "monitoring_at": ts(min(verifying)) if verifying else None,
        "resolved_at": ts(m.completed_at),
        "impact": "maintenance",
        "shortlink": f"{page.url}/maintenance/{m.id}",
        "started_at": ts(m.started_at or m.scheduled_for),
        "page_id": page.id,
        "incident_updates": [maintenance_update_json(m, u, names) for u in m.updates],
        "components": comps,
        "scheduled_for": ts(m.scheduled_for),
        "scheduled_until": ts(m.scheduled_until),
    }


def summary(
    page: Page,
    overall: Overall,
    views: Sequence[ComponentView],
    unresolved: Sequence[PublicIncident],
    policy: SeverityPolicy,
    maintenances: Sequence[PublicMaintenance] = (),
) -> dict[str, Any]:
    """``/api/v2/summary.json``: page, components, unresolved incidents, upcoming and
    active maintenances, status."""
    return {
        "page": page_json(page),
        "components": components_json(views, page),
        "incidents": [incident_json(p, page, policy, views) for p in unresolved],
        "scheduled_maintenances": [maintenance_json(m, page, views) for m in maintenances],
        "status": status_json(overall),
    }


def status_doc(page: Page, overall: Overall) -> dict[str, Any]:
    """``/api/v2/status.json``."""
    return {"page": page_json(page), "status": status_json(overall)}


def components_doc(page: Page, views: Sequence[ComponentView]) -> dict[str, Any]:
    """``/api/v2/components.json``."""
    return {"page": page_json(page), "components": components_json(views, page)}


def incidents_doc(
    page: Page,
    incidents: Sequence[PublicIncident],
    policy: SeverityPolicy,
    views: Sequence[ComponentView],
) -> dict[str, Any]:
    """``/api/v2/incidents.json`` and ``incidents/unresolved.json``."""
    return {
        "page": page_json(page),
        "incidents": [incident_json(p, page, policy, views) for p in incidents],
    }


def maintenances_doc(
    page: Page, maintenances: Sequence[PublicMaintenance], views: Sequence[ComponentView]
) -> dict[str, Any]:
    """``/api/v2/scheduled-maintenances.json`` (the 50 newest), ``…/upcoming.json``
    (scheduled) and ``…/active.json`` (in progress or verifying)."""
    return {
        "page": page_json(page),
        "scheduled_maintenances": [maintenance_json(m, page, views) for m in maintenances],
    }
