"""Alert intake: ``POST /api/alerts/<source>`` and the built-in alert sources.

Sources (``crashbot_alert_sources``): ``alertmanager``, ``grafana``,
``datadog``, ``sentry``, ``github_actions`` and ``generic``. Each turns a
vendor's published webhook payload into :class:`crashbot_core.models.Alert`
objects with a stable fingerprint; the service routes them
(:mod:`crashbot_core.routing`).
"""

from __future__ import annotations

from crashbot_alerts.sources import (
    AlertmanagerSource,
    DatadogSource,
    GenericSource,
    GitHubActionsSource,
    GrafanaSource,
    SentrySource,
    builtin_sources,
)

__all__ = [
    "AlertmanagerSource",
    "DatadogSource",
    "GenericSource",
    "GitHubActionsSource",
    "GrafanaSource",
    "SentrySource",
    "builtin_sources",
]
