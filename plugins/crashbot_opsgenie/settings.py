"""``[opsgenie]``: where alerts go, which incidents page, how severities map."""

from __future__ import annotations

import re
from typing import Any

from attrs import define, field

from crashbot_core.config import env_field
from crashbot_core.paging import DEFAULT_PAGING_SEVERITIES

#: Section name in crashbot.toml.
SECTION = "opsgenie"
#: Opsgenie's Alert API (EU instances: https://api.eu.opsgenie.com).
DEFAULT_API_URL = "https://api.opsgenie.com"
#: Opsgenie's alert priorities, most urgent first.
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


def _priorities(_: Any, attribute: Any, value: dict[str, str]) -> None:
    for level, priority in value.items():
        if priority not in PRIORITIES:
            raise ValueError(
                f"expected one of {', '.join(PRIORITIES)} for {level}, found {priority!r}"
            )


def _teams(_: Any, attribute: Any, value: list[str] | None) -> None:
    for team in value or ():
        if not re.fullmatch(r"\S.{0,99}", team):
            raise ValueError(f"expected an Opsgenie team name, found {team!r}")


@define
class OpsgenieComponent:
    """``[opsgenie.components.KEY]``: paging for incidents on one component."""

    #: Levels that page for this component (default: the section's ``severities``;
    #: ``[]``: this component never pages on its own).
    severities: list[str] | None = None
    #: Teams (by name) that respond to this component's alerts, besides ``responders``.
    responders: list[str] = field(factory=list, validator=_teams)


@define
class OpsgenieSettings:
    """``[opsgenie]`` in crashbot.toml; the secrets come from the environment."""

    #: Key of an Opsgenie API integration (sent as ``Authorization: GenieKey …``).
    api_key: str | None = env_field("OPSGENIE_API_KEY")
    #: Base URL of the Alert API (``/v2/alerts`` is added).
    api_url: str = env_field("OPSGENIE_API_URL", DEFAULT_API_URL)
    #: Shared secret of the outgoing webhook (``X-Crashbot-Webhook-Secret``, or the
    #: password of HTTP basic auth).
    webhook_secret: str | None = env_field("OPSGENIE_WEBHOOK_SECRET")
    #: Severity levels that page.
    severities: list[str] = field(factory=lambda: list(DEFAULT_PAGING_SEVERITIES))
    #: Level → Opsgenie priority (P1 … P5); unlisted levels map by rank: the
    #: first level P1, the second P2, and so on.
    priority_map: dict[str, str] = field(factory=dict, validator=_priorities)
    #: Teams (by name) that respond to every alert (default: the integration's team).
    responders: list[str] = field(factory=list, validator=_teams)
    #: Tags of every alert.
    tags: list[str] = field(factory=lambda: ["crashbot"])
    #: Per-component paging levels and responders.
    components: dict[str, OpsgenieComponent] = field(factory=dict)
    #: ``source`` of every alert and action.
    source: str = "crashbot"
    #: Seconds to wait for Opsgenie.
    timeout: float = 10.0
