"""Example crashbot plugin: a minimal pager on PagerDuty's Events API v2.

crashbot ships a complete PagerDuty plugin (``crashbot_pagerduty``, see
docs/paging.md); this one is the plugin author's guide's worked example.

Three hooks make a whole plugin:

- ``crashbot_config_sections`` declares the ``[my_pager]`` settings table;
- ``crashbot_incident_event`` turns timeline events into PagerDuty events;
- raising from it (or raising :class:`~crashbot_core.RetryAfter` on a 429)
  makes crashbot retry the delivery later; the incident is never lost;
- :func:`~crashbot_core.subscribed_when` keeps the plugin off the delivery
  outbox until a routing key is set, so installing it costs nothing.
"""

from __future__ import annotations

import attrs
import httpx

from crashbot_core import (
    Crashbot,
    Event,
    EventKind,
    Incident,
    RetryAfter,
    env_field,
    hookimpl,
    subscribed_when,
)

EVENTS_API = "https://events.pagerduty.com/v2/enqueue"

# PagerDuty knows four severities; crashbot's levels map onto them by rank.
_PD_SEVERITY = ["critical", "error", "warning", "info"]


@attrs.define
class MyPagerSettings:
    """``[my_pager]`` in crashbot.toml."""

    #: The integration key of an Events API v2 integration (secret: from the environment).
    routing_key: str | None = env_field("MY_PAGER_ROUTING_KEY")
    #: Severity levels that page.
    severities: list[str] = attrs.field(factory=lambda: ["SEV1", "SEV2"])
    api_url: str = env_field("MY_PAGER_API_URL", EVENTS_API)
    timeout: float = 10.0


@hookimpl
def crashbot_config_sections() -> dict[str, type]:
    """Declare the ``[my_pager]`` table."""
    return {"my_pager": MyPagerSettings}


def pagerduty_event(
    incident: Incident, event: Event, crashbot: Crashbot, settings: MyPagerSettings
) -> dict[str, object] | None:
    """The Events API v2 body for a crashbot event, or None when nothing should be sent.

    A pure function, tested on its own.
    """
    if (
        incident.severity not in settings.severities
        and event.kind is not EventKind.SEVERITY_CHANGED
    ):
        return None
    action = {
        EventKind.DECLARED: "trigger",
        EventKind.REOPENED: "trigger",
        EventKind.ACKNOWLEDGED: "acknowledge",
        EventKind.RESOLVED: "resolve",
    }.get(event.kind)
    if event.kind is EventKind.SEVERITY_CHANGED:
        # Escalated into a paging level: page now. Anything else: nothing.
        escalated = (
            event.data.get("to") in settings.severities
            and event.data.get("from") not in settings.severities
        )
        action = "trigger" if escalated else None
    if action is None or settings.routing_key is None:
        return None
    body: dict[str, object] = {
        "routing_key": settings.routing_key,
        "event_action": action,
        "dedup_key": incident.ref,
    }
    if action == "trigger":
        rank = crashbot.policy.get(incident.severity).rank
        body["payload"] = {
            "summary": f"{incident.ref} [{incident.severity}] {incident.title}"[:1024],
            "source": "crashbot",
            "severity": _PD_SEVERITY[min(rank, len(_PD_SEVERITY) - 1)],
            "timestamp": incident.started_at.isoformat(),
            "component": ",".join(sorted(incident.components)) or None,
            "custom_details": {
                "status": incident.status.value,
                "description": incident.description,
            },
        }
        base = crashbot.config.general.base_url.rstrip("/")
        body["links"] = [{"href": f"{base}/incidents/{incident.id}", "text": incident.ref}]
    return body


def _has_routing_key(crashbot: Crashbot) -> bool:
    settings = crashbot.config.section("my_pager")
    return settings is not None and bool(settings.routing_key)


@hookimpl
@subscribed_when(_has_routing_key)
def crashbot_incident_event(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Send the matching PagerDuty event; inert without a routing key."""
    settings = crashbot.config.section("my_pager")
    if settings is None or not settings.routing_key:
        return
    body = pagerduty_event(incident, event, crashbot, settings)
    if body is None:
        return
    response = httpx.post(settings.api_url, json=body, timeout=settings.timeout)
    if response.status_code == 429:
        raise RetryAfter(float(response.headers.get("Retry-After", "30")))
    if response.status_code >= 400:
        # Raising records a failed delivery; the worker retries it with backoff.
        raise RuntimeError(f"PagerDuty answered {response.status_code}: {response.text[:200]}")
