"""The generic JSON source, for crash reporters, health checks and scripts.

Body: one alert object, or ``{"alerts": [alert, ...]}``. An alert::

    {
      "title": "Checkout crashes on launch",   # required
      "status": "firing",                      # or "resolved"; default firing
      "fingerprint": "ios-checkout-crash",     # optional; default: title + labels
      "group": "checkout",                     # optional; alerts of one group are one incident
      "severity": "SEV2",                      # optional hint: SEV2, P1, critical …
      "labels": {"service": "checkout"},       # optional string map
      "description": "…",                      # optional
      "url": "https://…",                      # optional http(s) link
      "started_at": "2026-03-02T08:55:00Z"     # optional, RFC 3339 or epoch seconds/ms
    }

Unknown keys are refused, so a typo (``"fingerprnt"``) is a 422, not a
silently different alert group.
"""

from __future__ import annotations

from typing import Any

from crashbot_alerts.sources import _common as c
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Alert, AlertStatus

FIELDS = (
    "title",
    "status",
    "fingerprint",
    "group",
    "severity",
    "labels",
    "description",
    "url",
    "started_at",
)


class GenericSource:
    """``POST /api/alerts/generic``: authenticated with a crashbot write token."""

    name = "generic"
    signature_header: str | None = None

    def verify(self, headers: dict[str, str], body: bytes, secret: str | None) -> bool:
        """No vendor signature; always False (use a bearer token)."""
        return False

    def parse(self, headers: dict[str, str], body: bytes) -> list[Alert]:
        """The alerts of the body.

        :raises InvalidInput: not JSON, unknown keys, or a missing title.
        """
        data = c.obj(c.load_json(body), "$")
        if "alerts" in data:
            extra = sorted(set(data) - {"alerts"})
            if extra:
                raise InvalidInput(f"$: unknown key(s) {', '.join(extra)} beside alerts")
            items = c.arr(data["alerts"], "$.alerts")
            return [
                self._alert(c.obj(item, f"$.alerts[{i}]"), f"$.alerts[{i}]")
                for i, item in enumerate(items)
            ]
        return [self._alert(data, "$")]

    def _alert(self, data: dict[str, Any], path: str) -> Alert:
        extra = sorted(set(data) - set(FIELDS))
        if extra:
            raise InvalidInput(
                f"{path}: unknown key(s) {', '.join(extra)}; expected {', '.join(FIELDS)}"
            )
        title = c.clean_line(c.text(data, "title", path, required=True), c.MAX_TITLE)
        if not title:
            raise InvalidInput(f"{path}.title: empty; say in a few words what is wrong")
        raw_status = c.text(data, "status", path) or "firing"
        try:
            status = AlertStatus(raw_status.strip().lower())
        except ValueError:
            raise InvalidInput(
                f'{path}.status: found {raw_status[:40]!r}, expected "firing" or "resolved"'
            ) from None
        labels = c.labels(data.get("labels"), f"{path}.labels")
        given = c.clean_line(c.text(data, "fingerprint", path), 10_000)
        fingerprint = (
            c.fingerprint(given)
            if given
            else c.fingerprint("generic", title, *[f"{k}={labels[k]}" for k in sorted(labels)])
        )
        link = c.text(data, "url", path)
        if link and c.url(link) is None:
            raise InvalidInput(f"{path}.url: {link[:80]!r} is not an http(s) URL")
        return Alert(
            source=self.name,
            fingerprint=fingerprint,
            status=status,
            title=title,
            severity=c.severity(c.text(data, "severity", path)),
            labels=labels,
            started_at=c.timestamp(data.get("started_at"), f"{path}.started_at"),
            url=c.url(link),
            description=c.clean_text(c.text(data, "description", path)),
            group=c.group(c.clean_line(c.text(data, "group", path), 10_000)),
        )
