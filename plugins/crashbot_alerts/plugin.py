"""The alerts plugin, registered under the ``crashbot`` entry-point group.

It offers the built-in alert sources, its ``[alert_intake]`` settings and
mounts ``POST /api/alerts/<source>`` on the status app. Nothing happens until
someone posts an authenticated alert, so it is inert when not configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crashbot_alerts.settings import SECTION, AlertIntakeSettings
from crashbot_alerts.sources import builtin_sources
from crashbot_core.hookspecs import AlertSource, hookimpl

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot


@hookimpl
def crashbot_alert_sources() -> Sequence[AlertSource]:
    """alertmanager, grafana, datadog, sentry, github_actions and generic."""
    return builtin_sources()


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """``[alert_intake]``: signing secrets and body limits."""
    return {SECTION: AlertIntakeSettings}


@hookimpl
def crashbot_web(app: Any, crashbot: Crashbot) -> None:
    """Mount ``POST /api/alerts/<source>`` (needs Flask, from the ``status`` extra)."""
    from crashbot_alerts.web import mount

    mount(app, crashbot)
