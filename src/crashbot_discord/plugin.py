"""The ``discord`` plugin: settings, event delivery, reminders and ``crashbot discord run``.

Inert when unconfigured: with neither ``DISCORD_BOT_TOKEN`` nor a webhook
set, every hook returns at once.
"""

from __future__ import annotations

from typing import Any

import click

from crashbot_core.hookspecs import hookimpl, subscribed_when
from crashbot_core.models import Event, Incident, Reminder
from crashbot_core.service import Crashbot
from crashbot_discord import notify
from crashbot_discord.settings import DiscordSettings

SECTION = "discord"


def settings_of(crashbot: Crashbot) -> DiscordSettings:
    """This plugin's settings from the service's config (defaults if the section is absent)."""
    section = crashbot.config.section(SECTION)
    return section if isinstance(section, DiscordSettings) else DiscordSettings()


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """Declare ``[discord]``."""
    return {SECTION: DiscordSettings}


def _configured(crashbot: Crashbot) -> bool:
    settings = settings_of(crashbot)
    return settings.webhooks_enabled or settings.bot_enabled


@hookimpl
@subscribed_when(_configured)
def crashbot_incident_event(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Post the event to the configured webhooks, the incident thread and the digest."""
    if _configured(crashbot):
        notify.deliver(crashbot, incident, event, settings_of(crashbot))


@hookimpl
def crashbot_reminder(crashbot: Crashbot, incident: Incident, reminder: Reminder) -> None:
    """Post a due reminder in the incident's thread."""
    settings = settings_of(crashbot)
    if settings.bot_enabled:
        notify.remind(crashbot, incident, reminder, settings)


@hookimpl
def crashbot_cli(group: click.Group) -> None:
    """Add ``crashbot discord run``."""
    from crashbot_discord.cli import discord_group

    group.add_command(discord_group)
