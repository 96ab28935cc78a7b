"""Events API v2 bodies: a pure function of the incident, the action and the settings.

``POST {api_url}/v2/enqueue`` with ``routing_key``, ``event_action``
(trigger, acknowledge, resolve) and one ``dedup_key`` per incident, its ref,
so every event addresses the same PagerDuty alert and a trigger sent twice
(a retried delivery) pages once.
"""

from __future__ import annotations

from typing import Any

from crashbot_core.models import Incident
from crashbot_core.paging import PageAction, rank_choice
from crashbot_core.severity import SeverityPolicy
from crashbot_pagerduty.settings import PD_SEVERITIES, PagerDutySettings

#: PagerDuty truncates longer summaries; we cut first so the ref stays in front.
SUMMARY_MAX = 1024


def dedup_key(incident: Incident) -> str:
    """The incident's PagerDuty ``dedup_key``: its ref (``INC-42``)."""
    return incident.ref


def pd_severity(policy: SeverityPolicy, settings: PagerDutySettings, level: str) -> str:
    """PagerDuty's severity for a crashbot level: ``severity_map``, else by rank."""
    mapped = {policy.parse(k).key: v for k, v in settings.severity_map.items()}
    return mapped.get(level) or rank_choice(policy, level, list(PD_SEVERITIES))


def enqueue_body(
    incident: Incident,
    action: PageAction,
    *,
    routing_key: str,
    settings: PagerDutySettings,
    policy: SeverityPolicy,
    base_url: str,
) -> dict[str, Any]:
    """The JSON body of one Events API v2 request."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action.value,
        "dedup_key": dedup_key(incident),
    }
    if action is not PageAction.TRIGGER:
        return body
    link = f"{base_url.rstrip('/')}/incidents/{incident.id}"
    details: dict[str, Any] = {
        "incident": incident.ref,
        "severity": incident.severity,
        "status": incident.status.value,
        "components": {k: v.value for k, v in sorted(incident.components.items())},
        "declared_at": incident.declared_at.isoformat(),
        "source": incident.source,
    }
    if incident.description:
        details["description"] = incident.description
    if incident.commander is not None:
        details["commander"] = incident.commander.display
    if incident.labels:
        details["labels"] = dict(incident.labels)
    payload: dict[str, Any] = {
        "summary": f"{incident.ref} [{incident.severity}] {incident.title}"[:SUMMARY_MAX],
        "source": settings.source,
        "severity": pd_severity(policy, settings, incident.severity),
        "timestamp": incident.started_at.isoformat(),
        "custom_details": details,
    }
    if incident.components:
        payload["component"] = ",".join(sorted(incident.components))
    links = [{"href": link, "text": f"{incident.ref} in crashbot"}]
    if incident.rca_url:
        links.append({"href": incident.rca_url, "text": "RCA"})
    body.update(payload=payload, links=links, client="crashbot", client_url=link)
    return body
