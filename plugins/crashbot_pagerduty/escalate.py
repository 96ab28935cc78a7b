"""Escalation pages on PagerDuty: a ``page`` step pages the on-call target's service.

Each target gets its own alert, ``dedup_key`` ``INC-42:primary``, on the
service of its ``[oncall.KEY] pagerduty`` integration key; the targets paged
are remembered on the incident (ref ``pagerduty.escalation``) so that they
are acknowledged and resolved with the incident, whatever surface that
happened on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crashbot_core.escalation import PAGE, Page
from crashbot_core.models import Event, Incident
from crashbot_core.paging import (
    PageAction,
    escalated_targets,
    escalation_follow_up,
    escalation_key,
    with_target,
)
from crashbot_pagerduty.events import enqueue_body
from crashbot_pagerduty.notify import send, settings_of

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

#: Incident refs key: the on-call targets paged, comma-separated.
ESCALATION_REF = "pagerduty.escalation"


def pages_someone(crashbot: Crashbot) -> bool:
    """True when some ``[oncall]`` target has a PagerDuty integration key."""
    return any(o.pagerduty for o in crashbot.config.escalation.oncall.values())


def page(crashbot: Crashbot, incident: Incident, step: Page) -> None:
    """Trigger the target's alert for a due ``page`` step (deduplicated by PagerDuty on retry)."""
    if step.action != PAGE or step.oncall is None or not step.oncall.pagerduty:
        return
    settings = settings_of(crashbot)
    body = enqueue_body(
        incident,
        PageAction.TRIGGER,
        routing_key=step.oncall.pagerduty,
        settings=settings,
        policy=crashbot.policy,
        base_url=crashbot.config.general.base_url,
    )
    body["dedup_key"] = escalation_key(incident, step.target)
    body["payload"]["custom_details"]["escalation"] = f"step {step.step}: {step.oncall.name}"
    send(settings, body)
    refs = crashbot.get(incident.id).refs
    crashbot.set_refs(
        incident.id, **{ESCALATION_REF: with_target(refs.get(ESCALATION_REF), step.target)}
    )


def follow(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Acknowledge or resolve the escalation alerts as the incident is.

    Sent again on a retried delivery: PagerDuty ignores an acknowledge or
    resolve of an alert already in that state.
    """
    action = escalation_follow_up(incident, event)
    if action is None:
        return
    targets = escalated_targets(crashbot.get(incident.id).refs.get(ESCALATION_REF))
    oncall = crashbot.config.escalation.oncall
    settings = settings_of(crashbot)
    for target in targets:
        key = oncall[target].pagerduty if target in oncall else None
        if not key:
            continue  # the target was removed from the configuration since
        send(
            settings,
            {
                "routing_key": key,
                "event_action": action.value,
                "dedup_key": escalation_key(incident, target),
            },
        )
