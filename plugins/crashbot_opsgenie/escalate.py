"""Escalation pages on Opsgenie: a ``page`` step alerts the on-call target's team.

Each target gets its own alert, alias ``INC-42:primary``, with the target's
``[oncall.KEY] opsgenie`` team as responder; the targets paged are
remembered on the incident (ref ``opsgenie.escalation``) so that their
alerts are acknowledged and closed with the incident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from crashbot_core.escalation import PAGE, Page
from crashbot_core.models import Actor, Event, Incident
from crashbot_core.paging import (
    PageAction,
    escalated_targets,
    escalation_follow_up,
    escalation_key,
    with_target,
)
from crashbot_opsgenie.alerts import Request, alert_request
from crashbot_opsgenie.notify import rules_of, send, settings_of

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

#: Incident refs key: the on-call targets paged, comma-separated.
ESCALATION_REF = "opsgenie.escalation"


def page(crashbot: Crashbot, incident: Incident, step: Page) -> None:
    """Create the target's alert for a due ``page`` step (deduplicated by alias on retry)."""
    settings = settings_of(crashbot)
    if step.action != PAGE or step.oncall is None or not step.oncall.opsgenie:
        return
    if not settings.api_key:
        return
    request = _for_target(
        alert_request(
            incident,
            PageAction.TRIGGER,
            actor=Actor.system(),
            settings=settings,
            rules=rules_of(crashbot, settings),
            policy=crashbot.policy,
            base_url=crashbot.config.general.base_url,
        ),
        incident,
        step.target,
    )
    request.body["responders"] = [{"name": step.oncall.opsgenie, "type": "team"}]
    request.body["details"]["escalation"] = f"step {step.step}: {step.oncall.name}"
    send(settings, settings.api_key, request)
    refs = crashbot.get(incident.id).refs
    crashbot.set_refs(
        incident.id, **{ESCALATION_REF: with_target(refs.get(ESCALATION_REF), step.target)}
    )


def follow(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Acknowledge or close the escalation alerts as the incident is (repeats are harmless)."""
    action = escalation_follow_up(incident, event)
    settings = settings_of(crashbot)
    if action is None or not settings.api_key:
        return
    targets = escalated_targets(crashbot.get(incident.id).refs.get(ESCALATION_REF))
    for target in targets:
        request = alert_request(
            incident,
            action,
            actor=event.actor,
            settings=settings,
            rules=rules_of(crashbot, settings),
            policy=crashbot.policy,
            base_url=crashbot.config.general.base_url,
        )
        send(settings, settings.api_key, _for_target(request, incident, target))


def _for_target(request: Request, incident: Incident, target: str) -> Request:
    """``request`` about the target's alert instead of the incident's own."""
    key = escalation_key(incident, target)
    if request.path == "/v2/alerts":
        return attrs.evolve(request, body={**request.body, "alias": key})
    quoted = request.path.replace(
        f"/v2/alerts/{incident.ref}/", f"/v2/alerts/{key.replace(':', '%3A')}/", 1
    )
    return attrs.evolve(request, path=quoted)
