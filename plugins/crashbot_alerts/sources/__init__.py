"""The built-in alert sources, one module per vendor."""

from __future__ import annotations

from crashbot_alerts.sources.alertmanager import AlertmanagerSource, GrafanaSource
from crashbot_alerts.sources.datadog import DatadogSource
from crashbot_alerts.sources.generic import GenericSource
from crashbot_alerts.sources.github_actions import GitHubActionsSource
from crashbot_alerts.sources.sentry import SentrySource

__all__ = [
    "AlertmanagerSource",
    "DatadogSource",
    "GenericSource",
    "GitHubActionsSource",
    "GrafanaSource",
    "SentrySource",
    "builtin_sources",
]


def builtin_sources() -> list[
    AlertmanagerSource
    | GrafanaSource
    | DatadogSource
    | SentrySource
    | GitHubActionsSource
    | GenericSource
]:
    """One instance of every built-in source."""
    return [
        AlertmanagerSource(),
        GrafanaSource(),
        DatadogSource(),
        SentrySource(),
        GitHubActionsSource(),
        GenericSource(),
    ]
