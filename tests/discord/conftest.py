"""Fixtures for the Discord adapter: a fake Discord API and a service configured for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_discord import DIGEST_CHANNEL, INCIDENTS_CHANNEL, FakeDiscord
from pytest_httpserver import HTTPServer

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot

BASE_URL = "https://status.example.com"


@pytest.fixture
def discord_api(httpserver: HTTPServer) -> FakeDiscord:
    """The fake Discord REST API (fresh per test)."""
    return FakeDiscord(httpserver)


@pytest.fixture
def make_bot(database_url: str, clock: FixedClock) -> Iterator[Callable[..., Crashbot]]:
    """Build a service with a ``[discord]`` section (and env) of the test's choosing."""
    built: list[Crashbot] = []

    def build(discord: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Crashbot:
        config: dict[str, Any] = {"crashbot": {"base_url": BASE_URL}}
        if discord is not None:
            config["discord"] = discord
        bot = make_crashbot(database_url=database_url, clock=clock, config=config, env=env)
        built.append(bot)
        return bot

    yield build
    for bot in built:
        bot.close()


@pytest.fixture
def webhook_bot(make_bot: Callable[..., Crashbot], discord_api: FakeDiscord) -> Crashbot:
    """Webhook-only mode: ``DISCORD_WEBHOOK_URL`` pointing at the fake."""
    return make_bot(env={"DISCORD_WEBHOOK_URL": discord_api.webhook_url("team")})


@pytest.fixture
def bot_mode(make_bot: Callable[..., Crashbot], discord_api: FakeDiscord) -> Crashbot:
    """Bot mode: token, incidents and digest channels, API at the fake."""
    return make_bot(
        discord={
            "incidents_channel_id": int(INCIDENTS_CHANNEL),
            "digest_channel_id": int(DIGEST_CHANNEL),
            "api_base_url": discord_api.base_url,
        },
        env={"DISCORD_BOT_TOKEN": "test-token"},
    )


@pytest.fixture
def discord_client(bot_mode: Crashbot, discord_api: FakeDiscord) -> Iterator[Any]:
    """The bot (discord.py client) logged in against the fake API, no gateway.

    discord.py's ``Route.BASE`` points at the fake for the test and is restored after.
    """
    import discord.http
    from discord_interactions import Harness

    from crashbot_discord.bot import CrashbotDiscord
    from crashbot_discord.plugin import settings_of

    saved = discord.http.Route.BASE
    discord.http.Route.BASE = discord_api.base_url
    harness = Harness(
        CrashbotDiscord(bot_mode, settings_of(bot_mode), sync_commands=False), discord_api
    )
    try:
        yield harness
    finally:
        harness.close()
        discord.http.Route.BASE = saved
