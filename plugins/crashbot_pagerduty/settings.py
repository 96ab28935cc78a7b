"""``[pagerduty]``: where pages go, which incidents page, how severities map."""

from __future__ import annotations

from typing import Any

from attrs import define, field

from crashbot_core.config import env_field
from crashbot_core.paging import DEFAULT_PAGING_SEVERITIES

#: Section name in crashbot.toml.
SECTION = "pagerduty"
#: PagerDuty's Events API v2 (EU accounts: https://events.eu.pagerduty.com).
DEFAULT_API_URL = "https://events.pagerduty.com"
#: PagerDuty's four alert severities, most severe first.
PD_SEVERITIES = ("critical", "error", "warning", "info")


def _pd_severities(_: Any, attribute: Any, value: dict[str, str]) -> None:
    for level, severity in value.items():
        if severity not in PD_SEVERITIES:
            raise ValueError(
                f"expected one of {', '.join(PD_SEVERITIES)} for {level}, found {severity!r}"
            )


@define
class PagerDutyComponent:
    """``[pagerduty.components.KEY]``: paging for incidents on one component."""

    #: Levels that page for this component (default: the section's ``severities``;
    #: ``[]``: this component never pages on its own).
    severities: list[str] | None = None
    #: Integration key of this component's own PagerDuty service (default: ``routing_key``).
    routing_key: str | None = None


@define
class PagerDutySettings:
    """``[pagerduty]`` in crashbot.toml; the secrets come from the environment."""

    #: Integration key of an Events API v2 integration: the service that is paged.
    routing_key: str | None = env_field("PAGERDUTY_ROUTING_KEY")
    #: Base URL of the Events API (``/v2/enqueue`` is added).
    api_url: str = env_field("PAGERDUTY_API_URL", DEFAULT_API_URL)
    #: Secret of the v3 webhook subscription (verifies ``X-PagerDuty-Signature``).
    webhook_secret: str | None = env_field("PAGERDUTY_WEBHOOK_SECRET")
    #: Severity levels that page.
    severities: list[str] = field(factory=lambda: list(DEFAULT_PAGING_SEVERITIES))
    #: Level → PagerDuty severity (critical, error, warning, info); unlisted levels
    #: map by rank: the first level critical, the second error, and so on.
    severity_map: dict[str, str] = field(factory=dict, validator=_pd_severities)
    #: Per-component paging levels and PagerDuty services.
    components: dict[str, PagerDutyComponent] = field(factory=dict)
    #: ``payload.source`` of every alert.
    source: str = "crashbot"
    #: Seconds to wait for PagerDuty.
    timeout: float = 10.0

    @property
    def configured(self) -> bool:
        """True when some routing key is set: the plugin pages."""
        return bool(self.routing_key) or any(c.routing_key for c in self.components.values())

    def routing_key_for(self, component: str) -> str | None:
        """The routing key of ``component``'s service ("" or unknown: the default's)."""
        rule = self.components.get(component)
        return (rule.routing_key if rule else None) or self.routing_key
