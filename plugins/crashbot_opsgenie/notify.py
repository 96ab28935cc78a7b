"""Delivering incident events to Opsgenie (called by the outbox, retried by the worker).

What was last sent is remembered on the incident (ref ``opsgenie.state``,
``EVENT_ID:ACTION``): a delivery retried after Opsgenie accepted it sends
nothing again, one that failed before Opsgenie answered re-sends the same
``alias`` (deduplicated by Opsgenie while the alert is open), and an
incident that never paged is never acknowledged or closed there.

A 429 raises :class:`~crashbot_core.RetryAfter`; any other failure raises
and the worker retries with backoff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from crashbot_core.models import Event, Incident
from crashbot_core.paging import PageState, PagingRules, next_action, pager_answer
from crashbot_opsgenie.alerts import Request, alert_request
from crashbot_opsgenie.settings import SECTION, OpsgenieSettings

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

#: Incident refs key.
STATE_REF = "opsgenie.state"
#: Actor platform of changes that came from Opsgenie (its webhook).
PLATFORM = "opsgenie"
#: When a 429 carries no Retry-After.
DEFAULT_RETRY_AFTER = 30.0


class OpsgenieError(Exception):
    """Opsgenie refused a request or could not be reached; the delivery is retried."""


def settings_of(crashbot: Crashbot) -> OpsgenieSettings:
    """The ``[opsgenie]`` settings, or the defaults when the section was not loaded."""
    found = crashbot.config.section(SECTION)
    return found if isinstance(found, OpsgenieSettings) else OpsgenieSettings()


def rules_of(crashbot: Crashbot, settings: OpsgenieSettings) -> PagingRules:
    """Which incidents page, from ``[opsgenie]`` (levels parsed by the severity policy)."""
    return PagingRules.build(
        crashbot.policy,
        settings.severities,
        {key: rule.severities for key, rule in settings.components.items()},
        section=SECTION,
    )


def deliver(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Tell Opsgenie what ``event`` means for the alert, if anything."""
    settings = settings_of(crashbot)
    if not settings.api_key:
        return
    refs = crashbot.get(incident.id).refs  # fresh: an earlier delivery may have set them
    rules = rules_of(crashbot, settings)
    last = PageState.parse(refs.get(STATE_REF))
    action = next_action(incident, event, pages=rules.pages(incident), last=last)
    if action is None:
        return
    if event.actor.platform != PLATFORM:  # what Opsgenie told us, it knows already
        request = alert_request(
            incident,
            action,
            actor=event.actor,
            settings=settings,
            rules=rules,
            policy=crashbot.policy,
            base_url=crashbot.config.general.base_url,
        )
        send(settings, settings.api_key, request)
    crashbot.set_refs(incident.id, **{STATE_REF: PageState(event.id, action).format()})


def send(settings: OpsgenieSettings, api_key: str, request: Request) -> dict[str, Any]:
    """Make one Alert API call; Opsgenie's answer on 2xx (202: "Request will be processed")."""
    url = settings.api_url.rstrip("/") + request.path
    try:
        response = httpx.post(
            url,
            params=request.params,
            json=request.body,
            headers={"Authorization": f"GenieKey {api_key}"},
            timeout=settings.timeout,
        )
    except httpx.HTTPError as exc:
        raise OpsgenieError(f"Opsgenie unreachable at {url}: {exc}") from exc
    return pager_answer(
        response,
        pager="Opsgenie",
        request=f"POST {request.path}",
        error=OpsgenieError,
        default_retry_after=DEFAULT_RETRY_AFTER,
    )
