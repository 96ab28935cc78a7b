"""The pagerduty plugin, registered under the ``crashbot`` entry-point group.

Inert until a routing key is set: it subscribes to the outbox only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashbot_core.escalation import Page
from crashbot_core.hookspecs import hookimpl, subscribed_when
from crashbot_core.models import Event, Incident
from crashbot_pagerduty import escalate, notify
from crashbot_pagerduty.settings import SECTION, PagerDutySettings

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """``[pagerduty]``; ``PAGERDUTY_ROUTING_KEY``, ``PAGERDUTY_API_URL`` and
    ``PAGERDUTY_WEBHOOK_SECRET`` override it."""
    return {SECTION: PagerDutySettings}


def _configured(crashbot: Crashbot) -> bool:
    return notify.settings_of(crashbot).configured or escalate.pages_someone(crashbot)


@hookimpl
@subscribed_when(_configured)
def crashbot_incident_event(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Trigger, acknowledge or resolve the incident's page (Events API v2), and its
    escalation pages with it."""
    escalate.follow(crashbot, incident, event)
    notify.deliver(crashbot, incident, event)


@hookimpl
@subscribed_when(escalate.pages_someone)
def crashbot_page(crashbot: Crashbot, incident: Incident, page: Page) -> None:
    """Page an on-call target's PagerDuty service for a due escalation step."""
    escalate.page(crashbot, incident, page)


@hookimpl
def crashbot_web(app: Any, crashbot: Crashbot) -> None:
    """Mount ``POST /pagerduty/webhook`` (v3 webhooks; needs Flask, from the ``status`` extra)."""
    from crashbot_pagerduty.web import mount

    mount(app, crashbot)
