"""``crashbot discord run``: the bot on Discord's gateway (plus the worker)."""

from __future__ import annotations

import threading

import click

from crashbot_core.cli import CliState, pass_state
from crashbot_core.errors import ConfigError
from crashbot_core.logs import configure_from


@click.group("discord")
def discord_group() -> None:
    """Discord bot (application commands, threads, digest)."""


@discord_group.command("run")
@click.option("--no-sync", is_flag=True, help="Do not register the application commands on start.")
@click.option(
    "--worker/--no-worker", default=True, show_default=True, help="Also run reminders and retries."
)
@pass_state
def run(state: CliState, no_sync: bool, worker: bool) -> None:
    """Connect to Discord and serve /incident (needs DISCORD_BOT_TOKEN)."""
    from crashbot_discord.bot import CrashbotDiscord
    from crashbot_discord.plugin import settings_of

    crashbot = state.crashbot()
    settings = settings_of(crashbot)
    if not settings.bot_token:
        raise ConfigError("DISCORD_BOT_TOKEN is not set; the Discord bot needs a bot token")
    configure_from(crashbot.config.logging, long_running=True)
    stop = threading.Event()
    # Interaction responses never wait on chat APIs: the worker delivers.
    crashbot.defer_deliveries()
    if worker:
        from crashbot_core.worker import Worker

        threading.Thread(
            target=Worker(crashbot).run, args=(stop,), name="crashbot-worker", daemon=True
        ).start()
    import discord

    try:
        CrashbotDiscord(crashbot, settings, sync_commands=not no_sync).run_bot()
    except discord.LoginFailure:
        raise ConfigError(
            "DISCORD_BOT_TOKEN was rejected by Discord (401); reset and copy it again"
        ) from None
    finally:
        stop.set()
