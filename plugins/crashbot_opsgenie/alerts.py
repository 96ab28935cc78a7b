"""Alert API requests: pure functions of the incident, the action and the settings.

``POST {api_url}/v2/alerts`` creates the alert with one ``alias`` per
incident, its ref: while that alert is open, Opsgenie deduplicates a second
create with the same alias (a retried delivery pages once).
``POST /v2/alerts/{alias}/acknowledge?identifierType=alias`` and
``…/close?identifierType=alias`` follow the incident.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import attrs

from crashbot_core.models import Actor, Incident
from crashbot_core.paging import PageAction, PagingRules, rank_choice
from crashbot_core.severity import SeverityPolicy
from crashbot_opsgenie.settings import PRIORITIES, OpsgenieSettings

#: Opsgenie's field limits (longer values are cut by Opsgenie, or refused).
MESSAGE_MAX = 130
DESCRIPTION_MAX = 15_000
DETAIL_MAX = 8_000


@attrs.frozen
class Request:
    """One Alert API call: path (under the API URL), query and JSON body."""

    path: str
    body: dict[str, Any]
    params: dict[str, str] = attrs.field(factory=dict)


def alias(incident: Incident) -> str:
    """The incident's Opsgenie ``alias``: its ref (``INC-42``)."""
    return incident.ref


def priority(policy: SeverityPolicy, settings: OpsgenieSettings, level: str) -> str:
    """Opsgenie's priority for a crashbot level: ``priority_map``, else by rank (SEV1 → P1)."""
    mapped = {policy.parse(k).key: v for k, v in settings.priority_map.items()}
    return mapped.get(level) or rank_choice(policy, level, list(PRIORITIES))


def alert_request(
    incident: Incident,
    action: PageAction,
    *,
    actor: Actor,
    settings: OpsgenieSettings,
    rules: PagingRules,
    policy: SeverityPolicy,
    base_url: str,
) -> Request:
    """The Alert API call for ``action`` on the incident's alert."""
    if action is not PageAction.TRIGGER:
        verb = "acknowledge" if action is PageAction.ACKNOWLEDGE else "close"
        done = "Acknowledged" if action is PageAction.ACKNOWLEDGE else "Resolved"
        return Request(
            path=f"/v2/alerts/{quote(alias(incident), safe='')}/{verb}",
            params={"identifierType": "alias"},
            body={
                "source": settings.source,
                "user": actor.display[:100],
                "note": f"{done} in crashbot by {actor.display}"[:25_000],
            },
        )
    link = f"{base_url.rstrip('/')}/incidents/{incident.id}"
    teams = list(settings.responders)
    for component in rules.paging_components(incident):
        rule = settings.components.get(component)
        teams += rule.responders if rule else []
    details = {
        "incident": incident.ref,
        "severity": incident.severity,
        "status": incident.status.value,
        "components": ", ".join(sorted(incident.components)),
        "source": incident.source,
        "link": link,
    }
    if incident.commander is not None:
        details["commander"] = incident.commander.display
    description = (incident.description + "\n\n" if incident.description else "") + link
    body: dict[str, Any] = {
        "message": f"{incident.ref} [{incident.severity}] {incident.title}"[:MESSAGE_MAX],
        "alias": alias(incident),
        "description": description[:DESCRIPTION_MAX],
        "priority": priority(policy, settings, incident.severity),
        "source": settings.source,
        "tags": list(dict.fromkeys([*settings.tags, incident.severity])),
        "details": {k: v[:DETAIL_MAX] for k, v in details.items() if v},
        "user": actor.display[:100],
    }
    if incident.components:
        body["entity"] = ",".join(sorted(incident.components))[:512]
    if teams:
        body["responders"] = [{"name": t, "type": "team"} for t in dict.fromkeys(teams)]
    return Request(path="/v2/alerts", body=body)
