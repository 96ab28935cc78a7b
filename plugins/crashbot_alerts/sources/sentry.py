"""Sentry alerts through an internal integration's webhook.

Sentry names the payload kind in the ``Sentry-Hook-Resource`` header and
signs the body: ``Sentry-Hook-Signature`` is the hex HMAC-SHA256 of the body
keyed with the integration's client secret.

* ``event_alert`` (an issue alert rule fired): one firing alert per issue
  (fingerprint ``issue:<issue_id>``, so every event of the issue groups).
* ``metric_alert``: ``critical``/``warning`` fire, ``resolved`` resolves; the
  fingerprint is the alert rule.
* ``installation`` and other resources are acknowledged and ignored.
"""

from __future__ import annotations

from typing import Any

from crashbot_alerts.sources import _common as c
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Alert, AlertStatus

RESOURCE_HEADER = "sentry-hook-resource"
SIGNATURE_HEADER = "sentry-hook-signature"


class SentrySource:
    """``POST /api/alerts/sentry``: signed with the integration's client secret."""

    name = "sentry"
    signature_header: str | None = SIGNATURE_HEADER

    def verify(self, headers: dict[str, str], body: bytes, secret: str | None) -> bool:
        """True when ``Sentry-Hook-Signature`` is the HMAC-SHA256 of the body under ``secret``."""
        signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
        if not secret or not signature:
            return False
        return c.same(signature, c.hmac_sha256_hex(secret, body))

    def parse(self, headers: dict[str, str], body: bytes) -> list[Alert]:
        """Alerts from an ``event_alert`` or ``metric_alert`` delivery; [] for other resources.

        :raises InvalidInput: not JSON, or an alert payload of the wrong shape.
        """
        resource = headers.get(RESOURCE_HEADER, "").strip()
        data = c.obj(c.load_json(body), "$")
        if resource == "event_alert":
            return [self._event_alert(data)]
        if resource == "metric_alert":
            return [self._metric_alert(data)]
        if not resource:
            raise InvalidInput(
                "the Sentry-Hook-Resource header is missing; expected event_alert or metric_alert"
            )
        return []

    def _event_alert(self, data: dict[str, Any]) -> Alert:
        payload = c.obj(data.get("data"), "$.data")
        event = c.obj(payload.get("event"), "$.data.event")
        path = "$.data.event"
        issue_id = c.text(event, "issue_id", path)
        title = c.text(event, "title", path) or c.text(event, "message", path)
        if not issue_id and not title:
            raise InvalidInput(f"{path}.issue_id: required, missing")
        labels: dict[str, str] = {}
        tags = event.get("tags")
        if tags is not None:
            for i, pair in enumerate(c.arr(tags, f"{path}.tags")):
                # Sentry sends tags as [key, value] pairs.
                items = c.arr(pair, f"{path}.tags[{i}]")
                if len(items) == 2 and all(isinstance(x, str) for x in items):
                    key = c.clean_line(items[0], c.MAX_LABEL_KEY)
                    if key and len(labels) < c.MAX_LABELS - 4:
                        labels[key] = c.clean_line(items[1], c.MAX_LABEL_VALUE)
        for key, value in (
            ("project", c.text(event, "project", path)),
            ("platform", c.text(event, "platform", path)),
            ("rule", c.text(payload, "triggered_rule", "$.data")),
            ("issue_id", issue_id),
        ):
            if value:
                labels[key] = c.clean_line(value, c.MAX_LABEL_VALUE)
        level = c.text(event, "level", path)
        fingerprint = c.fingerprint(f"issue:{issue_id}") if issue_id else c.fingerprint(title)
        return Alert(
            source=self.name,
            fingerprint=fingerprint,
            status=AlertStatus.FIRING,
            title=c.clean_line(title or f"Sentry issue {issue_id}", c.MAX_TITLE),
            severity=c.severity(level),
            labels=labels,
            started_at=c.timestamp(event.get("datetime"), f"{path}.datetime"),
            url=c.url(c.text(event, "web_url", path)),
            description=c.clean_text(c.text(event, "culprit", path)),
            # Sentry's issue is its group of events: one issue, one incident.
            group=c.group(f"issue:{issue_id}") if issue_id else None,
        )

    def _metric_alert(self, data: dict[str, Any]) -> Alert:
        action = c.text(data, "action", "$")
        if action not in {"critical", "warning", "resolved"}:
            raise InvalidInput(
                f"$.action: found {action!r}, expected critical, warning or resolved"
            )
        payload = c.obj(data.get("data"), "$.data")
        incident = c.opt_obj(payload, "metric_alert", "$.data")
        rule = c.opt_obj(incident, "alert_rule", "$.data.metric_alert")
        rule_id = c.text(rule, "id", "$.data.metric_alert.alert_rule")
        title = c.text(payload, "description_title", "$.data") or c.text(
            rule, "name", "$.data.metric_alert.alert_rule"
        )
        if not rule_id and not title:
            raise InvalidInput("$.data.metric_alert.alert_rule.id: required, missing")
        labels = {"rule": c.clean_line(c.text(rule, "name", "$.data.metric_alert.alert_rule"), 200)}
        return Alert(
            source=self.name,
            fingerprint=c.fingerprint(f"metric-rule:{rule_id}")
            if rule_id
            else c.fingerprint(title),
            status=AlertStatus.RESOLVED if action == "resolved" else AlertStatus.FIRING,
            title=c.clean_line(title, c.MAX_TITLE),
            severity=action if action != "resolved" else None,
            labels={k: v for k, v in labels.items() if v},
            started_at=c.timestamp(
                incident.get("date_started"), "$.data.metric_alert.date_started"
            ),
            url=c.url(c.text(payload, "web_url", "$.data")),
            description=c.clean_text(c.text(payload, "description_text", "$.data")),
            group=c.group(f"metric-rule:{rule_id}") if rule_id else None,
        )
