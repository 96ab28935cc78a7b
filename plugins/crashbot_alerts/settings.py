"""``[alert_intake]``: secrets and limits of ``POST /api/alerts/<source>``.

Routing (which alert declares what) is core configuration, ``[alerts]``; this
section only says who may post and how much.
"""

from __future__ import annotations

from attrs import define

from crashbot_core.config import env_field

#: Section name in crashbot.toml.
SECTION = "alert_intake"


@define
class AlertIntakeSettings:
    """``[alert_intake]`` in crashbot.toml; the secrets come from the environment."""

    #: Client secret of the Sentry internal integration (verifies ``Sentry-Hook-Signature``).
    sentry_client_secret: str | None = env_field("CRASHBOT_SENTRY_CLIENT_SECRET")
    #: Secret of the GitHub webhook (verifies ``X-Hub-Signature-256``).
    github_webhook_secret: str | None = env_field("CRASHBOT_GITHUB_WEBHOOK_SECRET")
    #: Larger request bodies are refused with 413 before they are read.
    max_body_bytes: int = 1_048_576
    #: More alerts in one request are refused with 413 (Alertmanager's ``max_alerts``).
    max_alerts: int = 1000
    #: How much of each alert's raw JSON is kept with it, for debugging a payload.
    max_raw_bytes: int = 16_384

    def secret_for(self, source: str) -> str | None:
        """The signing secret configured for a source, if any."""
        return {
            "sentry": self.sentry_client_secret,
            "github_actions": self.github_webhook_secret,
        }.get(source)
