"""Prometheus Alertmanager (webhook ``version: "4"``) and Grafana unified alerting.

Grafana's webhook contact point sends the Alertmanager shape plus a few
fields of its own (``orgId``, ``values``, ``dashboardURL``, ``panelURL``,
``silenceURL``), so one parser serves both. One request carries a whole
alert group, firing and resolved alerts side by side; every alert in it
becomes one :class:`Alert` carrying the group's ``groupKey`` as its natural
group (one Alertmanager notification group is one incident, as in PagerDuty
or Opsgenie), and ``truncatedAlerts`` (alerts Alertmanager left out because of
the receiver's ``max_alerts``) as ``omitted``.
"""

from __future__ import annotations

from typing import Any

from crashbot_alerts.sources import _common as c
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Alert, AlertStatus


class AlertmanagerSource:
    """``POST /api/alerts/alertmanager``: Alertmanager's ``webhook_config`` receiver.

    Authenticated with a crashbot write token (``http_config.authorization``);
    Alertmanager signs nothing.
    """

    name = "alertmanager"
    #: Alertmanager signs nothing: the route asks for a bearer token.
    signature_header: str | None = None
    #: The webhook payload version accepted (Grafana numbers its own; None: any).
    version: str | None = "4"

    def verify(self, headers: dict[str, str], body: bytes, secret: str | None) -> bool:
        """Alertmanager has no request signature; always False (use a bearer token)."""
        return False

    def parse(self, headers: dict[str, str], body: bytes) -> list[Alert]:
        """Every alert of the group, firing and resolved.

        :raises InvalidInput: not JSON, not version 4, or an alert of the wrong shape.
        """
        data = c.obj(c.load_json(body), "$")
        version = data.get("version")
        if self.version is not None and version is not None and str(version) != self.version:
            raise InvalidInput(f'$.version: found {version!r}, expected "4" (webhook v4)')
        group_status = data.get("status")
        items = c.arr(data.get("alerts"), "$.alerts")
        group = c.group(c.text(data, "groupKey", "$"))
        omitted = c.count(data.get("truncatedAlerts"), "$.truncatedAlerts")
        return [
            self._alert(
                c.obj(item, f"$.alerts[{i}]"), f"$.alerts[{i}]", group_status, group, omitted
            )
            for i, item in enumerate(items)
        ]

    def _alert(
        self, item: dict[str, Any], path: str, group_status: Any, group: str | None, omitted: int
    ) -> Alert:
        raw_status = item.get("status", group_status)
        try:
            status = AlertStatus(raw_status)
        except ValueError:
            raise InvalidInput(
                f'{path}.status: found {raw_status!r}, expected "firing" or "resolved"'
            ) from None
        labels = c.labels(item.get("labels"), f"{path}.labels")
        annotations = c.labels(item.get("annotations"), f"{path}.annotations")
        given = c.text(item, "fingerprint", path)
        fingerprint = c.fingerprint(given) if given else c.labels_fingerprint(labels)
        title = (
            annotations.get("summary")
            or annotations.get("title")
            or labels.get("alertname")
            or f"{self.name} alert"
        )
        return Alert(
            source=self.name,
            fingerprint=fingerprint,
            status=status,
            title=c.clean_line(title, c.MAX_TITLE),
            severity=c.severity(labels.get("severity", "")),
            labels=labels,
            started_at=c.timestamp(item.get("startsAt"), f"{path}.startsAt"),
            url=self._url(item, path),
            description=c.clean_text(
                annotations.get("description") or annotations.get("message") or ""
            ),
            group=group,
            omitted=omitted,
        )

    def _url(self, item: dict[str, Any], path: str) -> str | None:
        return c.url(c.text(item, "generatorURL", path))


class GrafanaSource(AlertmanagerSource):
    """``POST /api/alerts/grafana``: Grafana alerting's webhook contact point.

    Authenticated with a crashbot write token (the contact point's
    "Authorization header" setting, scheme ``Bearer``).
    """

    name = "grafana"
    version = None

    def _url(self, item: dict[str, Any], path: str) -> str | None:
        # The panel or dashboard shows the graph; the rule editor is the fallback.
        for key in ("panelURL", "dashboardURL", "generatorURL"):
            link = c.url(c.text(item, key, path))
            if link:
                return link
        return None
