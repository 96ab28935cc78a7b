"""The Slack plugin's hook implementations (entry point ``slack``).

Inert without ``SLACK_BOT_TOKEN``: every hook returns at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashbot_core.hookspecs import hookimpl, subscribed_when
from crashbot_slack.settings import SlackSettings

if TYPE_CHECKING:
    import click

    from crashbot_core.escalation import Page
    from crashbot_core.models import Event, Incident, Reminder
    from crashbot_core.service import Crashbot


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """``[slack]`` in crashbot.toml."""
    return {"slack": SlackSettings}


def _configured(crashbot: Crashbot) -> bool:
    from crashbot_slack.runtime import settings_of

    settings = settings_of(crashbot)
    return settings is not None and settings.enabled


@hookimpl
@subscribed_when(_configured)
def crashbot_incident_event(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Post the event to the incident channel and refresh the digest (channel on declare)."""
    from crashbot_slack.runtime import runtime_for

    runtime = runtime_for(crashbot)
    if runtime is not None:
        runtime.notifier.deliver(incident, event)


@hookimpl
def crashbot_reminder(crashbot: Crashbot, incident: Incident, reminder: Reminder) -> None:
    """Post a due reminder in the incident channel (escalations also in the digest thread)."""
    from crashbot_slack.runtime import runtime_for

    runtime = runtime_for(crashbot)
    if runtime is not None:
        runtime.notifier.remind(incident, reminder)


@hookimpl
@subscribed_when(_configured)
def crashbot_page(crashbot: Crashbot, incident: Incident, page: Page) -> None:
    """Post an escalation step in the incident channel, mentioning who is paged."""
    from crashbot_slack.runtime import runtime_for

    runtime = runtime_for(crashbot)
    if runtime is not None:
        runtime.notifier.page(incident, page)


@hookimpl
def crashbot_web(app: Any, crashbot: Crashbot) -> None:
    """Mount ``POST /slack/events`` when Slack is configured."""
    from crashbot_slack.web import mount

    mount(app, crashbot)


@hookimpl
def crashbot_cli(group: click.Group) -> None:
    """Add ``crashbot slack run`` and ``crashbot slack manifest``."""
    from crashbot_slack.cli import slack_group

    group.add_command(slack_group)
