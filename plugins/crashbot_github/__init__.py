"""Postmortem and follow-ups as GitHub Issues, with follow-up state synced back."""

from crashbot_github.exporter import (
    GitHubExporter,
    GitHubSettings,
    render_follow_up_issue,
    render_postmortem_issue,
    sync_follow_ups,
)

__all__ = [
    "GitHubExporter",
    "GitHubSettings",
    "render_follow_up_issue",
    "render_postmortem_issue",
    "sync_follow_ups",
]
