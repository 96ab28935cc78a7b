"""The opsgenie plugin, registered under the ``crashbot`` entry-point group.

Inert until an API key is set: it subscribes to the outbox only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashbot_core.escalation import Page
from crashbot_core.hookspecs import hookimpl, subscribed_when
from crashbot_core.models import Event, Incident
from crashbot_opsgenie import escalate, notify
from crashbot_opsgenie.settings import SECTION, OpsgenieSettings

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """``[opsgenie]``; ``OPSGENIE_API_KEY``, ``OPSGENIE_API_URL`` and
    ``OPSGENIE_WEBHOOK_SECRET`` override it."""
    return {SECTION: OpsgenieSettings}


def _configured(crashbot: Crashbot) -> bool:
    return bool(notify.settings_of(crashbot).api_key)


@hookimpl
@subscribed_when(_configured)
def crashbot_incident_event(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Create, acknowledge or close the incident's Opsgenie alert (Alert API), and its
    escalation alerts with it."""
    escalate.follow(crashbot, incident, event)
    notify.deliver(crashbot, incident, event)


@hookimpl
@subscribed_when(_configured)
def crashbot_page(crashbot: Crashbot, incident: Incident, page: Page) -> None:
    """Alert an on-call target's Opsgenie team for a due escalation step."""
    escalate.page(crashbot, incident, page)


@hookimpl
def crashbot_web(app: Any, crashbot: Crashbot) -> None:
    """Mount ``POST /opsgenie/webhook`` (needs Flask, from the ``status`` extra)."""
    from crashbot_opsgenie.web import mount

    mount(app, crashbot)
