"""Responder mail: ``[email] notify`` hears when an incident of ``severities`` is declared or resolved.

It is internal mail for the team (private incidents included), sent as one
message to the whole list from the outbox delivery, so a relay that is down
is retried by the worker and nothing is sent twice after it succeeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crashbot_core.errors import CrashbotError
from crashbot_core.models import Event, EventKind, Incident
from crashbot_email import transport
from crashbot_email.mails import responder_text
from crashbot_email.settings import EmailSettings

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

_WHAT = {EventKind.DECLARED: "declared", EventKind.RESOLVED: "resolved"}


def wanted(crashbot: Crashbot, settings: EmailSettings, incident: Incident) -> bool:
    """Whether the incident's severity is one of ``[email] severities``."""
    keys = set()
    for name in settings.severities:
        try:
            keys.add(crashbot.policy.parse(name).key)
        except CrashbotError:
            keys.add(name)
    return incident.severity in keys


def deliver(crashbot: Crashbot, settings: EmailSettings, incident: Incident, event: Event) -> None:
    """Mail the responders about a declared or resolved incident of a listed severity."""
    what = _WHAT.get(event.kind)
    if what is None or not settings.notify or not wanted(crashbot, settings, incident):
        return
    message = str(event.data.get("message") or event.data.get("description") or "")
    base = crashbot.config.public_url
    url = f"{base}/incidents/{incident.id}" if base and incident.public else ""
    msg = transport.build(
        sender=settings.mail_from or "",
        to=list(settings.notify),
        subject=f"[{incident.severity}] {incident.ref} {what}: {incident.title}",
        text=responder_text(incident, what, message, url),
    )
    transport.send(settings, msg)
