"""``crashbot discord run`` and the registration of ``/incident`` with Discord."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import discord.http
from click.testing import CliRunner
from discord_interactions import Harness
from fake_discord import API, APP_ID, GUILD_ID, FakeDiscord

from crashbot_core import Crashbot
from crashbot_core.cli import build_cli
from crashbot_core.plugins import get_plugin_manager
from crashbot_discord.bot import CrashbotDiscord
from crashbot_discord.plugin import settings_of


def test_discord_run_without_a_token_exits_1_with_one_line(tmp_path: Path) -> None:
    cli = build_cli(get_plugin_manager(disabled=()))
    result = CliRunner().invoke(
        cli,
        ["discord", "run"],
        env={"CRASHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CRASHBOT_CONFIG": ""},
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: DISCORD_BOT_TOKEN is not set; the Discord bot needs a bot token"
    )


def test_discord_group_is_added_to_the_cli() -> None:
    cli = build_cli(get_plugin_manager(disabled=()))
    result = CliRunner().invoke(cli, ["discord", "--help"])
    assert result.exit_code == 0
    assert "run" in result.output


def test_start_registers_incident_commands_in_the_guild(
    make_bot: Callable[..., Crashbot], discord_api: FakeDiscord
) -> None:
    bot = make_bot(
        discord={"guild_id": int(GUILD_ID), "api_base_url": discord_api.base_url},
        env={"DISCORD_BOT_TOKEN": "t"},
    )
    saved = discord.http.Route.BASE
    discord.http.Route.BASE = discord_api.base_url
    try:
        harness = Harness(CrashbotDiscord(bot, settings_of(bot), sync_commands=True), discord_api)
        harness.close()
    finally:
        discord.http.Route.BASE = saved

    [put] = discord_api.find("PUT", rf"{API}/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    [incident] = put.json
    assert incident["name"] == "incident"
    subs = {o["name"]: o for o in incident["options"]}
    assert list(subs) == [
        "declare",
        "update",
        "ack",
        "severity",
        "status",
        "role",
        "resolve",
        "publish",
        "unpublish",
        "rca",
        "follow-up",
        "close",
        "edit",
        "record",
    ]
    record = {o["name"]: o for o in subs["record"]["options"]}
    assert [n for n, o in record.items() if o["required"]] == [
        "title",
        "started_at",
        "resolved_at",
    ]
    assert record["severity"]["autocomplete"] is True
    close = {o["name"]: o for o in subs["close"]["options"]}
    assert [c["value"] for c in close["resolution"]["choices"]] == ["invalid", "duplicate"]
    assert close["duplicate_of"]["required"] is False
    update = {o["name"]: o for o in subs["update"]["options"]}
    assert update["incident"]["required"] is True and update["incident"]["autocomplete"] is True
    assert update["status"]["autocomplete"] is True
    role = {o["name"]: o for o in subs["role"]["options"]}
    assert role["user"]["type"] == 6  # a Discord user picker


def test_discord_run_with_a_rejected_token_exits_1_with_one_line(
    tmp_path: Path, discord_api: FakeDiscord
) -> None:
    discord_api.fail_next(rf"{API}/users/@me", FakeDiscord.error(401, 0, "401: Unauthorized"))
    cli = build_cli(get_plugin_manager(disabled=()))
    saved = discord.http.Route.BASE
    try:
        result = CliRunner().invoke(
            cli,
            ["discord", "run", "--no-worker"],
            env={
                "CRASHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
                "CRASHBOT_CONFIG": "",
                "DISCORD_BOT_TOKEN": "revoked",
                "DISCORD_API_URL": discord_api.base_url,
            },
        )
    finally:
        discord.http.Route.BASE = saved
    assert result.exit_code == 1, result.output
    # The bot's log lines ([logging]) go to stderr before it; the error is one line.
    assert result.output.strip().splitlines()[-1] == (
        "error: DISCORD_BOT_TOKEN was rejected by Discord (401); reset and copy it again"
    )
    assert "Traceback" not in result.output
    [login] = discord_api.find("GET", rf"{API}/users/@me")
    assert login is not None
