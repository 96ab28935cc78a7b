"""Delivering incident events to PagerDuty (called by the outbox, retried by the worker).

What was last sent is remembered on the incident (ref ``pagerduty.state``,
``EVENT_ID:ACTION``), with the service it went to (``pagerduty.routing``: a
component key, or empty for the default ``routing_key``), so that:

* a delivery retried after PagerDuty accepted it sends nothing again, and
  one that failed before PagerDuty answered re-sends the same ``dedup_key``,
  which PagerDuty deduplicates;
* acknowledge and resolve go to the service that was triggered, even when
  the incident's components changed since;
* an incident that never paged is never acknowledged or resolved there.

A 429 raises :class:`~crashbot_core.RetryAfter`; any other failure raises
and the worker retries with backoff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from crashbot_core.models import Event, Incident
from crashbot_core.paging import PageAction, PageState, PagingRules, next_action, pager_answer
from crashbot_pagerduty.events import enqueue_body
from crashbot_pagerduty.settings import SECTION, PagerDutySettings

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

#: Incident refs keys.
STATE_REF = "pagerduty.state"
ROUTING_REF = "pagerduty.routing"
#: Actor platform of changes that came from PagerDuty (its webhook).
PLATFORM = "pagerduty"
#: PagerDuty sends no Retry-After on a 429; its documentation says to back off.
DEFAULT_RETRY_AFTER = 30.0


class PagerDutyError(Exception):
    """PagerDuty refused an event or could not be reached; the delivery is retried."""


def settings_of(crashbot: Crashbot) -> PagerDutySettings:
    """The ``[pagerduty]`` settings, or the defaults when the section was not loaded."""
    found = crashbot.config.section(SECTION)
    return found if isinstance(found, PagerDutySettings) else PagerDutySettings()


def rules_of(crashbot: Crashbot, settings: PagerDutySettings) -> PagingRules:
    """Which incidents page, from ``[pagerduty]`` (levels parsed by the severity policy)."""
    return PagingRules.build(
        crashbot.policy,
        settings.severities,
        {key: rule.severities for key, rule in settings.components.items()},
        section=SECTION,
    )


def deliver(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Tell PagerDuty what ``event`` means for the page, if anything."""
    settings = settings_of(crashbot)
    if not settings.configured:
        return
    refs = crashbot.get(incident.id).refs  # fresh: an earlier delivery may have set them
    last = PageState.parse(refs.get(STATE_REF))
    rules = rules_of(crashbot, settings)
    action = next_action(incident, event, pages=rules.pages(incident), last=last)
    if action is None:
        return
    if action is PageAction.TRIGGER:
        routing = next(
            (
                c
                for c in rules.paging_components(incident)
                if c in settings.components and settings.components[c].routing_key
            ),
            "",
        )
    else:
        routing = refs.get(ROUTING_REF, "")
    if event.actor.platform != PLATFORM:  # what PagerDuty told us, it knows already
        routing_key = settings.routing_key_for(routing)
        if not routing_key:
            return  # the service it would go to has no key: nothing is paged
        send(
            settings,
            enqueue_body(
                incident,
                action,
                routing_key=routing_key,
                settings=settings,
                policy=crashbot.policy,
                base_url=crashbot.config.general.base_url,
            ),
        )
    crashbot.set_refs(
        incident.id,
        **{STATE_REF: PageState(event.id, action).format(), ROUTING_REF: routing or None},
    )


def send(settings: PagerDutySettings, body: dict[str, Any]) -> dict[str, Any]:
    """POST one event to ``{api_url}/v2/enqueue``; PagerDuty's answer on 2xx."""
    url = settings.api_url.rstrip("/") + "/v2/enqueue"
    try:
        response = httpx.post(url, json=body, timeout=settings.timeout)
    except httpx.HTTPError as exc:
        raise PagerDutyError(f"PagerDuty unreachable at {url}: {exc}") from exc
    return pager_answer(
        response,
        pager="PagerDuty",
        # Read only for the error message: a 2xx never depends on the body's keys.
        request=f"{body.get('event_action')} {body.get('dedup_key')}",
        error=PagerDutyError,
        default_retry_after=DEFAULT_RETRY_AFTER,
    )
