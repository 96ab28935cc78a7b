"""Datadog monitor notifications through the Webhooks integration.

Datadog's default payload template is::

    {"body": "$EVENT_MSG", "last_updated": "$LAST_UPDATED", "event_type": "$EVENT_TYPE",
     "title": "$EVENT_TITLE", "date": "$DATE", "org": {"id": "$ORG_ID", "name": "$ORG_NAME"},
     "id": "$ID"}

It carries no monitor id, so with it alone the fingerprint is the event title
without its ``[Triggered]``/``[Recovered]`` prefix, per organisation. Adding
``"alert_id": "$ALERT_ID"``, ``"alert_scope": "$ALERT_SCOPE"``,
``"alert_transition": "$ALERT_TRANSITION"``, ``"alert_priority":
"$ALERT_PRIORITY"``, ``"tags": "$TAGS"`` and ``"link": "$LINK"`` to the template
(see docs/alerts.md) gives an exact fingerprint (monitor and scope), the
priority as severity and tags as labels; ``"aggreg_key": "$AGGREG_KEY"``
gives Datadog's aggregation key, the natural group: notifications sharing
it are one incident.
"""

from __future__ import annotations

import re

from crashbot_alerts.sources import _common as c
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Alert, AlertStatus

#: $ALERT_TRANSITION values (and title prefixes) that mean the monitor recovered.
_RECOVERED = {"recovered", "ok", "resolved", "success"}
_PREFIX = re.compile(r"^\s*\[([^\]]{0,200})\]\s*")
_PRIORITY = re.compile(r"^P[0-9]$", re.IGNORECASE)
#: Notification types Datadog prefixes event titles with ($ALERT_TRANSITION values).
_MARKERS = {
    "triggered",
    "re-triggered",
    "recovered",
    "warn",
    "re-warn",
    "no data",
    "re-no data",
    "renotify",
    "ok",
}


class DatadogSource:
    """``POST /api/alerts/datadog``: Datadog's Webhooks integration.

    Authenticated with a crashbot write token in the webhook's custom
    headers (``{"Authorization": "Bearer cbt_…"}``).
    """

    name = "datadog"
    signature_header: str | None = None

    def verify(self, headers: dict[str, str], body: bytes, secret: str | None) -> bool:
        """Datadog signs nothing; always False (use a bearer token)."""
        return False

    def parse(self, headers: dict[str, str], body: bytes) -> list[Alert]:
        """One alert per notification.

        :raises InvalidInput: not JSON, or neither a title nor an alert id.
        """
        data = c.obj(c.load_json(body), "$")
        title = c.text(data, "title", "$") or c.text(data, "alert_title", "$")
        alert_id = c.text(data, "alert_id", "$")
        if not title and not alert_id:
            raise InvalidInput("$.title: required (the default template's $EVENT_TITLE), missing")
        prefixes, bare_title = _strip_prefixes(title)
        transition = c.text(data, "alert_transition", "$").strip().lower()
        alert_type = c.text(data, "alert_type", "$").strip().lower()
        if transition:
            recovered = transition in _RECOVERED
        elif alert_type:
            recovered = alert_type in _RECOVERED
        else:
            recovered = any(p.lower() in _RECOVERED for p in prefixes)
        org = c.opt_obj(data, "org", "$")
        org_id = c.text(org, "id", "$.org")
        scope = c.text(data, "alert_scope", "$")
        aggreg_key = c.text(data, "aggreg_key", "$")
        if alert_id:
            fingerprint = c.fingerprint("datadog-monitor", org_id, alert_id, scope)
        elif aggreg_key:
            fingerprint = c.fingerprint(aggreg_key)
        else:
            fingerprint = c.fingerprint("datadog-title", org_id, bare_title)
        labels: dict[str, str] = {}
        for key, value in (
            ("org", c.text(org, "name", "$.org")),
            ("event_type", c.text(data, "event_type", "$")),
            ("monitor_id", alert_id),
            ("scope", scope),
            ("hostname", c.text(data, "hostname", "$")),
        ):
            if value:
                labels[key] = c.clean_line(value, c.MAX_LABEL_VALUE)
        labels.update(_tags(c.text(data, "tags", "$")))
        priority = c.text(data, "alert_priority", "$") or next(
            (p for p in prefixes if _PRIORITY.match(p)), ""
        )
        return [
            Alert(
                source=self.name,
                fingerprint=fingerprint,
                status=AlertStatus.RESOLVED if recovered else AlertStatus.FIRING,
                title=c.clean_line(
                    bare_title or title or f"Datadog monitor {alert_id}", c.MAX_TITLE
                ),
                severity=c.severity(priority),
                labels=labels,
                started_at=c.timestamp(data.get("date") or None, "$.date"),
                url=c.url(c.text(data, "link", "$")),
                description=c.clean_text(c.text(data, "body", "$")),
                # Datadog's own grouping of a monitor's notifications ($AGGREG_KEY).
                group=c.group(f"{org_id}/{aggreg_key}") if aggreg_key else None,
            )
        ]


def _strip_prefixes(title: str) -> tuple[list[str], str]:
    """``"[P1] [Triggered] Host is Down"`` → ``(["P1", "Triggered"], "Host is Down")``.

    ``[Triggered on {host:a}]`` counts as ``Triggered``.
    """
    prefixes: list[str] = []
    rest = title
    for _ in range(5):
        m = _PREFIX.match(rest)
        if not m:
            break
        word = m.group(1).split(" on ", 1)[0].strip()
        # Only Datadog's own markers; "[Memory Alert]" is part of the monitor's name.
        if word.lower() not in _MARKERS and not _PRIORITY.match(word):
            break
        prefixes.append(word)
        rest = rest[m.end() :]
    return prefixes, rest.strip()


def _tags(value: str) -> dict[str, str]:
    """``"env:prod, service:api, solo"`` → ``{"env": "prod", "service": "api", "solo": ""}``."""
    out: dict[str, str] = {}
    for tag in value.split(","):
        tag = tag.strip()
        if not tag or len(out) >= c.MAX_LABELS - 8:
            continue
        key, _, val = tag.partition(":")
        key = c.clean_line(key, c.MAX_LABEL_KEY)
        if key:
            out[key] = c.clean_line(val, c.MAX_LABEL_VALUE)
    return out
